"""Claims keep the terms they were won under; campaigns take only known currencies.

The new columns are added empty, filled from each claim's campaign (the terms it was won
under are not known any more; its campaign's current ones are the best guess), then made
required."""

from django.db import migrations, models


def fill_terms(apps, schema_editor):
    Claim = apps.get_model("coupons", "Claim")
    Campaign = apps.get_model("coupons", "Campaign")
    for campaign in Campaign.objects.filter(claims__isnull=False).distinct():
        scope = {
            "farms": sorted(campaign.farms.values_list("id", flat=True)),
            "products": sorted(campaign.products.values_list("id", flat=True)),
            "sessions": sorted(campaign.sessions.values_list("id", flat=True)),
        }
        Claim.objects.filter(campaign=campaign).update(
            kind=campaign.kind,
            value=campaign.value,
            max_discount=campaign.max_discount,
            min_spend=campaign.min_spend,
            currency=campaign.currency,
            scope=scope,
        )


CURRENCIES = [("THB", "Thai baht"), ("CNY", "Chinese yuan"), ("USD", "US dollar")]
KINDS = [("percent", "Percent off"), ("fixed", "Amount off")]


class Migration(migrations.Migration):
    dependencies = [("coupons", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="campaign",
            name="currency",
            field=models.CharField(choices=CURRENCIES, default="THB", max_length=3),
        ),
        migrations.AddField(
            model_name="claim",
            name="kind",
            field=models.CharField(choices=KINDS, max_length=10, null=True),
        ),
        migrations.AddField(
            model_name="claim",
            name="value",
            field=models.DecimalField(decimal_places=2, max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name="claim",
            name="max_discount",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name="claim",
            name="min_spend",
            field=models.DecimalField(decimal_places=2, max_digits=12, null=True),
        ),
        migrations.AddField(
            model_name="claim",
            name="currency",
            field=models.CharField(choices=CURRENCIES, max_length=3, null=True),
        ),
        migrations.AddField(
            model_name="claim",
            name="scope",
            field=models.JSONField(
                help_text="Ids the coupon applies to: farms, products, sessions.", null=True
            ),
        ),
        migrations.RunPython(fill_terms, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="claim",
            name="kind",
            field=models.CharField(choices=KINDS, max_length=10),
        ),
        migrations.AlterField(
            model_name="claim",
            name="value",
            field=models.DecimalField(decimal_places=2, max_digits=12),
        ),
        migrations.AlterField(
            model_name="claim",
            name="min_spend",
            field=models.DecimalField(decimal_places=2, max_digits=12),
        ),
        migrations.AlterField(
            model_name="claim",
            name="currency",
            field=models.CharField(choices=CURRENCIES, max_length=3),
        ),
        migrations.AlterField(
            model_name="claim",
            name="scope",
            field=models.JSONField(
                help_text="Ids the coupon applies to: farms, products, sessions."
            ),
        ),
    ]
