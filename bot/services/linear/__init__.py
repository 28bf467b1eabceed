"""Linear's GraphQL API: the client, every document Baton sends, the schema."""
