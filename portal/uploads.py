"""Upload size caps enforced while the request body is still arriving.

Django hands each chunk of an uploaded file to the handlers in
``FILE_UPLOAD_HANDLERS``; ``CappedUploadHandler`` comes first. A view declares
its cap with ``upload_cap("SETTING_NAME")`` (function views) or an
``upload_max_bytes_setting`` attribute (class views). Once a file passes its
cap the handler stops passing chunks on, so the later handlers (memory,
temporary file) never hold more than the cap; the rest of the body is read
and dropped, and the view receives an ``OversizedUpload`` whose ``size`` is
what arrived, which the view's own check refuses with a clear message (never a
500, never the whole file in memory or on disk).
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler


class OversizedUpload(UploadedFile):
    """Stands in for a file that passed its cap: no content, its size as received."""

    def __init__(self, name: str, size: int, content_type: str | None):
        import io

        super().__init__(io.BytesIO(b""), name=name, content_type=content_type, size=size)


def upload_cap(setting: str):
    """Decorator: uploads to this view are capped at ``settings.<setting>`` bytes."""

    def decorate(view):
        view.upload_max_bytes_setting = setting
        return view

    return decorate


def _cap_for(request) -> int | None:
    match = getattr(request, "resolver_match", None)
    func = getattr(match, "func", None)
    setting = getattr(func, "upload_max_bytes_setting", None) or getattr(
        getattr(func, "cls", None), "upload_max_bytes_setting", None
    )
    return int(getattr(settings, setting)) if setting else None


class CappedUploadHandler(FileUploadHandler):
    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.cap = _cap_for(self.request) if self.request is not None else None
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.cap is not None and self.received > self.cap:
            return None  # later handlers get nothing more
        return raw_data

    def file_complete(self, file_size):
        if self.cap is not None and self.received > self.cap:
            return OversizedUpload(self.file_name, self.received, self.content_type)
        return None
