"""Users who sign in to ``/ui/``: Argon2 password hashes, roles per tenant, sign-in.

Functions take a ``session``; the caller owns the transaction. Every change is audited in
each tenant it concerns, with its actor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.authz import ROLE_SCOPES, ROLES
from alerting.db.models import User, UserRole
from alerting.db.repositories import audit, tenant_exists
from alerting.domain.errors import AlertingError, InvalidInput, UnknownTenant

_hasher = PasswordHasher()
#: A hash to verify against when the email is unknown, so both answers take as long.
_DUMMY_HASH = _hasher.hash("not a password anyone has")
MIN_PASSWORD = 8


class UserError(AlertingError):
    """A refused change to a user (unknown email, already a member...)."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    user_id: uuid.UUID
    email: str
    #: tenant id -> role
    roles: dict[str, str] = field(default_factory=dict)

    def scopes(self, tenant_id: str) -> frozenset[str]:
        role = self.roles.get(tenant_id)
        return ROLE_SCOPES[role] if role else frozenset()


def normal_email(email: str) -> str:
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value):
        raise InvalidInput("user", [("email", f"{email!r} is not an email address")])
    if len(value) > 254:
        raise InvalidInput("user", [("email", "longer than 254 characters")])
    return value


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("user", [("role", f"{role!r} is not one of {', '.join(ROLES)}")])
    return role


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("user", [("password", f"shorter than {MIN_PASSWORD} characters")])
    return _hasher.hash(password)


def _user(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normal_email(email))).first()


def create_user(
    session: Session,
    *,
    tenant_id: str,
    email: str,
    role: str,
    password: str | None,
    actor: str = "system:cli",
) -> bool:
    """Give ``email`` ``role`` in ``tenant_id``, making the user if new (then ``password`` is
    needed). Returns True when the user was new."""
    check_role(role)
    if not tenant_exists(session, tenant_id):
        raise UnknownTenant(tenant_id)
    user = _user(session, email)
    created = user is None
    if user is None:
        if password is None:
            raise InvalidInput("user", [("password", "needed for a new user")])
        user = User(
            id=uuid.uuid4(), email=normal_email(email), password_hash=hash_password(password)
        )
        session.add(user)
        session.flush()
    elif session.get(UserRole, (user.id, tenant_id)) is not None:
        raise UserError(
            f"{user.email} already has a role in {tenant_id}; use `alerting users set-role`"
        )
    session.add(UserRole(user_id=user.id, tenant_id=tenant_id, role=role))
    audit(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="user.created",
        email=user.email,
        role=role,
    )
    return created


def set_role(
    session: Session, *, tenant_id: str, email: str, role: str, actor: str = "system:cli"
) -> None:
    check_role(role)
    user = _user(session, email)
    member = session.get(UserRole, (user.id, tenant_id)) if user else None
    if user is None or member is None:
        raise UserError(f"{normal_email(email)} has no role in {tenant_id}")
    before = member.role
    member.role = role
    audit(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="user.role_changed",
        email=user.email,
        role=role,
        previous=before,
    )


def disable_user(session: Session, *, email: str, actor: str = "system:cli") -> None:
    """The user can no longer sign in; their open sessions stop working."""
    user = _user(session, email)
    if user is None:
        raise UserError(f"no user {normal_email(email)}")
    if user.disabled_at is None:
        user.disabled_at = datetime.now(UTC)
    for tenant_id in session.scalars(select(UserRole.tenant_id).where(UserRole.user_id == user.id)):
        audit(session, tenant_id=tenant_id, actor=actor, action="user.disabled", email=user.email)


@dataclass(frozen=True, slots=True)
class UserRow:
    email: str
    tenant_id: str
    role: str
    disabled: bool
    created_at: datetime


def list_users(session: Session, tenant_id: str | None = None) -> list[UserRow]:
    query = select(User, UserRole).join(UserRole, UserRole.user_id == User.id)
    if tenant_id is not None:
        query = query.where(UserRole.tenant_id == tenant_id)
    rows = session.execute(query.order_by(User.email, UserRole.tenant_id)).all()
    return [
        UserRow(
            email=user.email,
            tenant_id=member.tenant_id,
            role=member.role,
            disabled=user.disabled_at is not None,
            created_at=user.created_at,
        )
        for user, member in rows
    ]


def signed_in(session: Session, user_id: uuid.UUID) -> SignedIn | None:
    """The user with their roles, or None when unknown or disabled."""
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        return None
    roles = {
        m.tenant_id: m.role
        for m in session.scalars(select(UserRole).where(UserRole.user_id == user.id))
    }
    return SignedIn(user_id=user.id, email=user.email, roles=roles)


def authenticate(session: Session, email: str, password: str) -> SignedIn | None:
    """The user when the password is theirs and they are enabled, else None."""
    try:
        user = _user(session, email)
    except InvalidInput:
        user = None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    return signed_in(session, user.id)
