"""One stored normal form per username (unique) and the skeletons that refuse look-alikes.

Existing rows are backfilled oldest first. Where two old accounts share a normal form (a
look-alike registered under the old case-only rule, such as ``ſomchai`` beside
``somchai``), the older keeps it and each newer one gets ``<key>#<id>``: ``#`` is never
in a username, so that account cannot log in by name until staff rename it
(docs/operations.md).
"""

from django.db import migrations, models

from server.accounts.names import skeleton, username_key


def backfill(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    taken = set()
    for user in User.objects.order_by("pk").iterator():
        key = username_key(user.username)
        if key in taken:
            key = f"{key}#{user.pk}"
        taken.add(key)
        User.objects.filter(pk=user.pk).update(
            username_key=key,
            username_skeleton=skeleton(user.username),
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
            field=models.TextField(db_index=True, default="", editable=False),
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
    ]
