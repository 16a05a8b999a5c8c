"""Product photos as we store them: decoded, bounded, re-encoded, with no metadata.

A phone photo carries EXIF: the GPS position of the farmhouse, the phone's serial, the time
it was taken. Buyers see the picture, never that. Re-encoding also means what we serve is a
picture Pillow drew, not whatever bytes were uploaded under an image's name.
"""

import secrets
from io import BytesIO

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps, UnidentifiedImageError

from server.errors import Invalid

# The longest side we keep; a product card never shows more, and a phone's 4000 px photo
# costs rural buyers mobile data for nothing.
MAX_SIDE = 2048
# Refused before decoding: a small file can declare a huge canvas (a decompression bomb).
MAX_PIXELS = 40_000_000
# What comes in as these stays in its format; anything else becomes PNG (with transparency)
# or JPEG.
KEPT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def _refuse(message: str) -> Invalid:
    return Invalid(message, fields={"photo": [message]})


def photo_clean(upload: UploadedFile) -> ContentFile:
    """The upload as a fresh image file with a random name. Raises ``Invalid``
    (``fields.photo``) for anything Pillow cannot decode or that is too large."""
    upload.seek(0)
    try:
        with Image.open(upload) as source:
            if source.width * source.height > MAX_PIXELS:
                raise _refuse(f"The picture is too large: at most {MAX_PIXELS:,} pixels.")
            source_format = source.format or ""
            source.load()
            image = ImageOps.exif_transpose(source)
    except Invalid:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise _refuse("Upload a picture (JPEG, PNG or WebP).") from None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    extension = KEPT.get(source_format) or ("png" if has_alpha else "jpg")
    out = BytesIO()
    if extension == "jpg":
        image.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
    elif extension == "png":
        mode = "RGBA" if has_alpha else "RGB"
        image.convert(mode).save(out, format="PNG", optimize=True)
    else:
        image.convert("RGBA" if has_alpha else "RGB").save(out, format="WEBP", quality=85)
    return ContentFile(out.getvalue(), name=f"{secrets.token_hex(8)}.{extension}")
