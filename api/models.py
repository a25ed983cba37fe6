"""Personal access tokens of the API: django-rest-knox's token (stored as a SHA-512 digest, the key
shown once) with what the "API tokens" page shows besides: a name, a public id, when it was last used."""

import uuid

from django.db import models
from knox.models import AbstractAuthToken


class Token(AbstractAuthToken):
    # knox's primary key is the digest: not something to put in a URL.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    last_used_at = models.DateTimeField("last used", null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return self.name

    @property
    def expired(self):
        from django.utils import timezone

        return self.expiry is not None and self.expiry <= timezone.now()
