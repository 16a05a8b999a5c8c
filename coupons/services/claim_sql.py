"""One statement that writes a batch of one drop's admitted claims (the group commit's
write; ``claim_writes._write`` is the same guards for one claim, through the ORM)."""

import json

from django.db import DatabaseError, connection, transaction

from coupons.models import Campaign, CampaignUser, Claim, ClaimStatus, Drop, DropState
from coupons.services.claim_writes import SCOPES, AdmittedClaim


class _BatchRefused(Exception):
    """A guard refused the batch as a whole; it is rolled back and written claim by claim."""


# The campaign's per-user holdings move by one each only while under its limit, the claims
# are inserted for exactly the users whose holdings moved (the unique constraints still
# guard them), with the campaign's terms as of this statement, and the drop's count moves by
# as many, only while it stays open and within its quantity. Each guard is ``_write``'s,
# set-wise. One round trip, so the drop's row, the one every writer wants, is locked from
# this statement to the commit right after it, not across a conversation.
_WRITE_MANY = """
WITH campaign AS (
    SELECT c.id, c.per_user_limit, c.claim_ttl_s, c.kind, c.value, c.max_discount,
           c.min_spend, c.currency, {scope} AS scope
    FROM {campaign} c JOIN {drop} d ON d.campaign_id = c.id WHERE d.id = %(drop)s
), held AS (
    INSERT INTO {holding} AS h (campaign_id, user_id, held)
    SELECT campaign.id, u.user_id, 1
    FROM campaign, unnest(%(users)s::bigint[]) AS u(user_id)
    WHERE campaign.per_user_limit >= 1
    ON CONFLICT (campaign_id, user_id) DO UPDATE SET held = h.held + 1
    WHERE h.held < (SELECT per_user_limit FROM campaign)
    RETURNING h.user_id
), made AS (
    INSERT INTO {claim} (drop_id, campaign_id, user_id, code, status, expires_at, created_at,
                         kind, value, max_discount, min_spend, currency, scope)
    SELECT %(drop)s, campaign.id, x.user_id, x.code, %(status)s,
           x.at + campaign.claim_ttl_s * interval '1 second', x.at,
           campaign.kind, campaign.value, campaign.max_discount, campaign.min_spend,
           campaign.currency, campaign.scope
    FROM campaign,
         unnest(%(users)s::bigint[], %(codes)s::text[], %(ats)s::timestamptz[])
             AS x(user_id, code, at)
    WHERE x.user_id IN (SELECT user_id FROM held)
    RETURNING id, user_id, campaign_id, expires_at, kind, value, max_discount, min_spend,
              currency, scope
), counted AS (
    UPDATE {drop} SET claimed = claimed + (SELECT count(*) FROM made)
    WHERE id = %(drop)s AND state = %(open)s
      AND claimed + (SELECT count(*) FROM made) <= quantity
    RETURNING claimed, quantity, session_id
)
SELECT made.id, made.user_id, made.campaign_id, made.expires_at, made.kind, made.value,
       made.max_discount, made.min_spend, made.currency, made.scope, counted.claimed,
       counted.quantity, counted.session_id
FROM made LEFT JOIN counted ON true
"""


_SCOPE_PART = """'{name}', COALESCE(
    (SELECT jsonb_agg(m.{target} ORDER BY m.{target}) FROM {table} m WHERE m.{source} = c.id),
    '[]'::jsonb)"""


def scope_sql() -> str:
    """``{"farms": [...], "products": [...], "sessions": [...]}`` of campaign ``c``, ids
    ascending: what ``claim_writes.claim_terms`` builds. Names from the models only."""
    parts = []
    for name in SCOPES:
        field = Campaign._meta.get_field(name)
        parts.append(
            _SCOPE_PART.format(
                name=name,
                target=field.m2m_reverse_name(),
                table=field.m2m_db_table(),
                source=field.m2m_column_name(),
            )
        )
    return "jsonb_build_object(" + ", ".join(parts) + ")"


def write_many(
    *, drop_id: int, group: list[AdmittedClaim]
) -> tuple[list[Claim], bool, int] | None:
    """Write a batch of one drop's admitted claims in one transaction: the claims, in
    ``group``'s order, whether they took the drop's last unit and the drop's session (for
    the session's live numbers, without another query); or None when a guard
    refused the batch (rolled back whole: refused by a guard, a duplicate, a deadlock, the
    database gone), for the caller to write claim by claim."""
    if connection.vendor != "postgresql":
        return None  # the embedded SQLite default: claim by claim (no storms there)
    users = [item.user.pk for item in group]
    if len(set(users)) != len(users):
        return None
    ordered = sorted(group, key=lambda item: item.user.pk)  # lock holdings in one order
    sql = _WRITE_MANY.format(
        campaign=Campaign._meta.db_table,
        drop=Drop._meta.db_table,
        holding=CampaignUser._meta.db_table,
        claim=Claim._meta.db_table,
        scope=scope_sql(),
    )
    params = {
        "drop": drop_id,
        "users": [item.user.pk for item in ordered],
        "codes": [item.admission.token for item in ordered],
        "ats": [item.now for item in ordered],
        "status": ClaimStatus.CLAIMED,
        "open": DropState.OPEN,
    }
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            if len(rows) != len(group) or rows[0][10] is None:
                raise _BatchRefused
    except (_BatchRefused, DatabaseError):
        return None
    by_user = {row[1]: row for row in rows}
    claims = []
    for item in group:
        pk, _, campaign_id, expires_at, kind, value, cap, min_spend, currency, scope, *_ = by_user[
            item.user.pk
        ]
        claims.append(
            Claim(
                pk=pk, drop_id=drop_id, campaign_id=campaign_id, user=item.user,
                code=item.admission.token, status=ClaimStatus.CLAIMED, expires_at=expires_at,
                created_at=item.now, kind=kind, value=value, max_discount=cap,
                min_spend=min_spend, currency=currency,
                scope=json.loads(scope) if isinstance(scope, str) else scope,
            )
        )  # fmt: skip
    claimed, quantity, session_id = rows[0][10], rows[0][11], rows[0][12]
    return claims, claimed >= quantity, session_id
