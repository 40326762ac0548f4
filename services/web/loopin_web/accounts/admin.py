from django.contrib import admin

from .models import AuthSession, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ("id", "email", "is_active", "is_staff", "date_joined")
    search_fields = ("email",)
    exclude = ("password",)  # set passwords through the API, never in a form


@admin.register(AuthSession)
class AuthSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "device_id", "created_at", "expires_at", "revoked_at")
    list_filter = ("revoked_reason",)
