"""Embedded ICC colour profiles: convert to sRGB with ``PIL.ImageCms`` where that can be done, else say why not."""

from __future__ import annotations

import io

from PIL import Image

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without littlecms: profiles are then ignored (with a warning)
    ImageCms = None


def _to_srgb(img: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    """Convert an RGB, L or CMYK image with a non-sRGB embedded profile to sRGB (else as is)."""
    if not icc:
        return img
    if ImageCms is None:
        notes.append("embedded colour profile ignored (Pillow has no ImageCms): colours used as stored")
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if _is_srgb(source):
            return img
        space = source.profile.xcolor_space.strip()
        expected = {"RGB": "RGB", "L": "GRAY", "CMYK": "CMYK"}[img.mode]
        if space != expected:
            notes.append(f"embedded {space} colour profile does not fit a {img.mode} image: ignored")
            return img
        converted = ImageCms.profileToProfile(img, source, _srgb_profile(), outputMode="RGB")
        name = ImageCms.getProfileDescription(source).strip() or "non-sRGB"
        notes.append(f"colours converted from the embedded {name} profile to sRGB: the result is sRGB, "
                     "so even at strength 0 its values differ from the file's")  # fmt: skip
        return converted.convert("L") if img.mode == "L" else converted
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        notes.append(f"could not apply the embedded colour profile ({exc}): colours used as stored")
        return img


def _is_srgb(profile) -> bool:
    return "srgb" in ImageCms.getProfileDescription(profile).lower()


_SRGB = None


def _srgb_profile():
    global _SRGB
    if _SRGB is None:
        _SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB


def _note_ignored_profile(icc: bytes, notes: list[str]) -> None:
    """High bit depth images keep their values; say so unless the profile is sRGB anyway."""
    try:
        if ImageCms is not None and _is_srgb(ImageCms.ImageCmsProfile(io.BytesIO(icc))):
            return
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        pass
    notes.append("embedded colour profile not applied to a 16-bit image: colours used as stored")
