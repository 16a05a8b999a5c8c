from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from server.accounts.forms import AdminLoginForm
from server.accounts.models import User

# The admin logs in through the same service and limits as the API (server.accounts.forms).
admin.site.login_form = AdminLoginForm


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "display_name", "is_host", "is_promoter", "is_staff")
    list_filter = ("is_host", "is_promoter", "is_staff", "is_active")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Talad Live", {"fields": ("display_name", "is_host", "is_promoter")}),
    )
