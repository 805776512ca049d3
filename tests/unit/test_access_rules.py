"""Who may have which access, and what the sign-in limits count: pure rules and the in-memory limiter."""

from __future__ import annotations

import uuid

import pytest
from limits.aio.storage import MemoryStorage

from leadgen.auth.lockout import SignInLockout
from leadgen.auth.roles import Access, Role, access_refusal, changed_access
from leadgen.core.errors import RateLimited
from leadgen.core.security import counted_address
from leadgen.core.settings import Settings
from leadgen.stores.ratelimit import RateLimiter

AGENT_ID = uuid.uuid4()
ADMIN = Access(Role.ADMIN, True, None)
AGENT = Access(Role.AGENT, True, AGENT_ID)


class TestAccess:
    def test_a_user_given_another_role_is_no_longer_linked_to_their_agent(self) -> None:
        assert changed_access(AGENT, Role.MANAGER, None) == Access(Role.MANAGER, True, None)
        assert changed_access(AGENT, None, False) == Access(Role.AGENT, False, AGENT_ID)

    def test_the_role_agent_needs_a_linked_agent(self) -> None:
        manager = Access(Role.MANAGER, True, None)
        assert access_refusal(changed_access(manager, Role.AGENT, None), manager) == (
            "role",
            "a user with the role agent must be linked to an agent, and this user is linked to none",
        )
        assert access_refusal(Access(Role.AGENT, True, None)) is not None  # a new user
        assert access_refusal(AGENT) is None

    def test_staff_are_linked_to_no_agent(self) -> None:
        refusal = access_refusal(Access(Role.ADMIN, True, AGENT_ID))
        assert refusal is not None and refusal[0] == "agent_id"

    def test_an_agent_user_linked_to_no_agent_may_still_be_deactivated(self) -> None:
        unlinked = Access(Role.AGENT, True, None)  # as made before the rule
        assert access_refusal(changed_access(unlinked, None, False), unlinked) is None

    @pytest.mark.parametrize(
        ("after", "field"),
        [
            (Access(Role.ADMIN, False, None), "active"),
            (Access(Role.MANAGER, True, None), "role"),
            (Access(Role.AGENT, False, AGENT_ID), "active"),
        ],
    )
    def test_the_last_active_admin_stays_one(self, after: Access, field: str) -> None:
        refusal = access_refusal(after, ADMIN, other_active_admins=0)
        assert refusal is not None and refusal[0] == field and "last active admin" in refusal[1]
        assert access_refusal(after, ADMIN, other_active_admins=1) is None

    def test_an_inactive_admin_may_be_changed_whatever_the_others(self) -> None:
        inactive = Access(Role.ADMIN, False, None)
        assert access_refusal(changed_access(inactive, Role.MANAGER, None), inactive) is None


@pytest.mark.parametrize(
    ("address", "counted"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:DB8:1:3::1", "2001:db8:1:3::/64"),
        ("unknown", "unknown"),
    ],
)
def test_a_limit_counts_an_ipv6_address_by_its_64(address: str, counted: str) -> None:
    assert counted_address(address) == counted


async def test_a_failure_counts_against_the_address_while_the_account_is_full() -> None:
    """The behaviour ``count_failure`` documents: a full limit does not count the failure, the
    other limits still do."""
    limiter = RateLimiter(MemoryStorage())
    settings = Settings(security={"sign_in_account_limits": ("1/minute",), "sign_in_address_limits": ("3/minute",)})
    lockout = SignInLockout(limiter, settings, "pat@example.com", "2001:db8::1")
    await lockout.count_failure()  # the account's limit is full now
    for _ in range(2):
        with pytest.raises(RateLimited, match="this account"):
            await lockout.count_failure()
    assert await limiter.seconds_until_allowed("3/minute", "sign-in-address", "2001:db8::/64") > 0
