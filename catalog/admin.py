from django.contrib import admin

from catalog.models import Farm, Product


@admin.register(Farm)
class FarmAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "province", "district", "poverty_county", "verified")
    list_filter = ("poverty_county", "verified", "province")
    search_fields = ("name", "province", "district", "owner__username")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "farm", "price", "currency", "stock", "is_active")
    list_filter = ("currency", "is_active")
    search_fields = ("name", "farm__name")
