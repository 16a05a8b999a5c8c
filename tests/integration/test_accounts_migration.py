"""The username normal form arrives on a database that already has users, look-alikes too."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from server.accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("accounts", "0001_initial")]
AFTER = [("accounts", "0002_username_key_and_skeletons")]


def test_backfill_keeps_the_oldest_and_parks_a_legacy_lookalike():
    # given the schema before, with what its case-only rule let in on PostgreSQL:
    # lower() leaves the long s (U+017F) alone, so both rows passed its unique constraint
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("accounts", "User")
    make = {"password": User(password="")._meta.get_field("password").get_default()}
    first = old.objects.create(username="somchai", **make)
    spoof = old.objects.create(username="\u017fomchai", **make)
    host = old.objects.create(username="Malee", display_name="Malee Orchard", **make)

    # when
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    # (then on to the newest schema, which the models below and later tests use)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    # then the oldest keeps the name; the look-alike cannot log in by it until renamed
    keys = dict(User.objects.values_list("pk", "username_key"))
    assert keys == {first.pk: "somchai", spoof.pk: f"somchai#{spoof.pk}", host.pk: "malee"}
    assert User.objects.get(pk=host.pk).display_skeleton == "maleeorchard"
    parked = User.objects.get(pk=spoof.pk)
    assert parked.username_skeleton == f"somchai#{spoof.pk}"
    # saving a parked row for another reason keeps it parked, and does not fail
    parked.set_password(PASSWORD)
    parked.save()
    assert User.objects.get(pk=spoof.pk).username_key == f"somchai#{spoof.pk}"
    user = User.objects.get(pk=first.pk)
    user.set_password(PASSWORD)
    user.save()
    for spelling in ["somchai", "\u017fomchai"]:
        reply = APIClient().post(
            "/api/auth/token/", {"username": spelling, "password": PASSWORD}, format="json"
        )
        assert reply.status_code == 200
        assert reply.json()["token"] == Token.objects.get(user_id=first.pk).key
