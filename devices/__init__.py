"""Device profiles: YAML files with sourced numbers, validated into frozen ``DeviceProfile``s.

>>> from crossbar import devices
>>> devices.available()
['gaussian-add', 'gaussian-mult', 'hermes', 'ideal', 'nand', 'neurram', 'pcm', 'reram']
>>> pcm = devices.load("pcm", adc_bits=8)
>>> pcm.g_max
2.5e-05

Nothing else in the project parses device YAML. Every invalid input raises
:class:`ProfileError` (a ``ValueError``) naming the file, key, value and what
is allowed. See docs/devices.md for the numbers and their sources.
"""

from ._checks import ProfileError
from .blocks import OutputNoise, Periphery, RangeManagement, Verify
from .drift import ClippedLog, Drift
from .fit import FitResult, fit
from .loader import as_profile, available, load
from .measurements import MeasurementError, Measurements, read_measurements
from .noise import NOISE_FORMS, NoiseFunction
from .profile import DeviceProfile
from .schema import PROFILE_KEYS

__all__ = [
    "NOISE_FORMS",
    "PROFILE_KEYS",
    "ClippedLog",
    "DeviceProfile",
    "Drift",
    "FitResult",
    "MeasurementError",
    "Measurements",
    "NoiseFunction",
    "OutputNoise",
    "Periphery",
    "ProfileError",
    "RangeManagement",
    "Verify",
    "as_profile",
    "available",
    "fit",
    "load",
    "read_measurements",
]
