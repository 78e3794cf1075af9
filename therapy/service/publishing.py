"""Publishing a session's plan, and its pair's index page, to a git wiki."""

from __future__ import annotations

from therapy.service.followup import FollowUpRules


class PublishRules(FollowUpRules):
    pass
