"""Django's URLs: only the staff admin, mounted by the ASGI app under /admin."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("", admin.site.urls)]
