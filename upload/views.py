"""Projects and their files."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def project_list(request):
    return render(request, "upload/project_list.html")
