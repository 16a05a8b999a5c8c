from django.contrib import admin

from coupons.models import Campaign, Claim, Drop


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "kind", "value", "budget", "issued", "status")
    list_filter = ("status", "kind", "funded_by")


@admin.register(Drop)
class DropAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "session", "quantity", "claimed", "state", "closes_at")
    list_filter = ("state", "close_reason")


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ("code", "user", "drop", "status", "expires_at")
    list_filter = ("status",)
    search_fields = ("code", "user__username")
