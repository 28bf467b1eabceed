"""Every GraphQL document Baton sends to Linear, in one place.

Each is validated against Linear's published schema (`bot/services/linear/schema/schema.graphql`) by a test
and by the client before it is sent. Operation names start with `Baton` so Linear's logs (and the
test fake's) say who asked. Selections stay minimal: Linear charges complexity per field.
"""

from __future__ import annotations

VIEWER = """
query BatonViewer {
  viewer { id name }
}
"""

TEAM_STATES = """
query BatonTeamStates($teamId: String!) {
  team(id: $teamId) {
    id
    key
    states { nodes { id name type position } }
  }
}
"""

USER_TEAMS = """
query BatonUserTeams($userId: String!) {
  user(id: $userId) {
    id
    teams { nodes { id key } }
  }
}
"""

COMMENT_CREATE = """
mutation BatonCommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) {
    success
    comment { id }
  }
}
"""

COMMENT_UPDATE = """
mutation BatonCommentUpdate($id: String!, $input: CommentUpdateInput!) {
  commentUpdate(id: $id, input: $input) {
    success
    comment { id }
  }
}
"""

ISSUE_SET_STATE = """
mutation BatonIssueSetState($id: String!, $stateId: String!) {
  issueUpdate(id: $id, input: { stateId: $stateId }) {
    success
    issue { id state { id type } }
  }
}
"""

ATTACH_GITHUB_PR = """
mutation BatonAttachGitHubPR($issueId: String!, $url: String!, $title: String) {
  attachmentLinkGitHubPR(issueId: $issueId, url: $url, title: $title) {
    success
    attachment { id url }
  }
}
"""

ATTACH_URL = """
mutation BatonAttachURL($issueId: String!, $url: String!, $title: String) {
  attachmentLinkURL(issueId: $issueId, url: $url, title: $title) {
    success
    attachment { id url }
  }
}
"""

ACTIVITY_CREATE = """
mutation BatonAgentActivityCreate($input: AgentActivityCreateInput!) {
  agentActivityCreate(input: $input) {
    success
    agentActivity { id }
  }
}
"""

ACTIVITY_EXISTS = """
query BatonAgentActivity($id: String!) {
  agentActivity(id: $id) { id }
}
"""

SESSION_UPDATE = """
mutation BatonAgentSessionUpdate($id: String!, $input: AgentSessionUpdateInput!) {
  agentSessionUpdate(id: $id, input: $input) {
    success
  }
}
"""

ALL: dict[str, str] = {
    "VIEWER": VIEWER,
    "TEAM_STATES": TEAM_STATES,
    "USER_TEAMS": USER_TEAMS,
    "COMMENT_CREATE": COMMENT_CREATE,
    "COMMENT_UPDATE": COMMENT_UPDATE,
    "ISSUE_SET_STATE": ISSUE_SET_STATE,
    "ATTACH_GITHUB_PR": ATTACH_GITHUB_PR,
    "ATTACH_URL": ATTACH_URL,
    "ACTIVITY_CREATE": ACTIVITY_CREATE,
    "ACTIVITY_EXISTS": ACTIVITY_EXISTS,
    "SESSION_UPDATE": SESSION_UPDATE,
}
"""Name → document, for the schema test and for logs."""
