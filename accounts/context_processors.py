from django.conf import settings


def signup(request):
    """Whether the navigation offers "Sign up"."""
    return {"signup_enabled": settings.SIGNUP_ENABLED}
