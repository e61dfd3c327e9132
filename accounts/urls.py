from django.urls import path

from . import views

urlpatterns = [
    path("users/", views.UserCreateView.as_view(), name="user-create"),
    path("users/me/", views.UserMeView.as_view(), name="user-me"),
    path("users/me/password/", views.PasswordChangeView.as_view(), name="user-password"),
    path("users/<id:pk>/", views.UserDetailView.as_view(), name="user-detail"),
    path("auth/token/", views.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/password-recovery/", views.PasswordRecoveryView.as_view(), name="password-recovery"),
    path("auth/password-reset/", views.PasswordResetView.as_view(), name="password-reset"),
]
