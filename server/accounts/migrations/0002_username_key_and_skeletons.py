"""One stored normal form per username and one skeleton per username, both unique, and the
display-name skeleton that keeps anyone from passing for a host.

Existing rows are backfilled oldest first. Where two old accounts share a normal form or a
skeleton (a look-alike the old case-only rule let in, such as a long s spelling of
``somchai``), the older keeps it and each newer one gets ``<form>#<id>``: ``#`` is never in
a username, so such an account cannot log in by name until staff rename it
(docs/operations.md).
"""

from django.db import migrations, models

from server.accounts.names import skeleton, username_key


def _first_keeps(value, taken, pk):
    parked = value if value not in taken else f"{value}#{pk}"
    taken.add(parked)
    return parked


def backfill(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    keys, skeletons = set(), set()
    for user in User.objects.order_by("pk").iterator():
        User.objects.filter(pk=user.pk).update(
            username_key=_first_keeps(username_key(user.username), keys, user.pk),
            username_skeleton=_first_keeps(skeleton(user.username), skeletons, user.pk),
            display_skeleton=skeleton(user.display_name),
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.RemoveConstraint(model_name="user", name="user_username_ci_unique"),
        migrations.AlterModelOptions(
            name="user", options={"verbose_name": "user", "verbose_name_plural": "users"}
        ),
        migrations.AddField(
            model_name="user",
            name="username_key",
            field=models.TextField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="username_skeleton",
            field=models.TextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="user",
            name="display_skeleton",
            field=models.TextField(blank=True, db_index=True, default="", editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="username_key",
            field=models.TextField(editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name="user",
            name="username_skeleton",
            field=models.TextField(editable=False, unique=True),
        ),
    ]
