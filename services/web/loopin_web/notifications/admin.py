from django.contrib import admin

from .models import Device, NotificationRequest, OutboxMessage, ProcessedMessage, PushDelivery


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "platform", "created_at")
    list_filter = ("platform",)


@admin.register(NotificationRequest)
class NotificationRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "status", "created_at")
    list_filter = ("status",)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "queue_name", "created_at", "published_at", "attempts")


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(admin.ModelAdmin):
    list_display = ("idempotency_key", "queue", "outcome", "processed_at")


@admin.register(PushDelivery)
class PushDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "notification", "status", "provider", "created_at")
    list_filter = ("status",)
