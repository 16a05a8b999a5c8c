from django.contrib import admin

from streams.models import LiveSession


@admin.register(LiveSession)
class LiveSessionAdmin(admin.ModelAdmin):
    list_display = ("title", "farm", "host", "status", "scheduled_at")
    list_filter = ("status", "language")
