"""ADC range calibration: each tile's full scale from the values its conversions see on data.

The ``calibrated`` range mode (docs/physics.md, "Converters") sets the full scale F_t
of tile t to the ``percentile``-th percentile (NumPy's default linear interpolation)
of the absolute pre-clip values of every conversion of the tile (each read's column
value, or the phases' accumulated value) over the vectors of a calibration batch, its
columns, slices and phases, read with read noise from the calibration's own stream
(``crossbar.seeds.Stream.CALIBRATION_READ``). Chips calibrate after programming and
again after drift: :meth:`crossbar.read.array.CrossbarArray.age` returns a tile to the fixed
full scale until it is calibrated again. A tile whose values are all 0 keeps the fixed
full scale and stays uncalibrated.
"""

from __future__ import annotations

import numpy as np
import torch

from crossbar.read.cpu import values_cpu
from crossbar.read.torch_read import converted_values, read_keys


def calibrate_tiles(array, x: torch.Tensor, key: int) -> int:
    """Calibrate the ADC full scale of every tile of ``array`` on the vectors ``x`` (rows x
    inputs, float32, on the array's device) read with noise stream ``key``. Returns how many
    tiles stayed uncalibrated (all their values 0). Arrays in other range modes are left alone."""
    plan = array.plan
    if plan.mode != "calibrated":
        return 0
    with torch.no_grad():
        if x.device.type == "cpu":
            values = values_cpu(array, x, read_keys(key, len(array.bands), plan.reads))
        else:
            values = (v.cpu().numpy() for v in converted_values(array, x, key))
        starts = [r0 for r0, _ in array.bands]
        left = 0
        for i, band in enumerate(values):  # one row band's values at a time
            for tile in array.tiles:
                if starts.index(tile.row_slice.start) != i:
                    continue
                data = np.abs(band[:, :, tile.col_slice]).ravel()
                if data.size == 0 or not data.any():
                    left += 1
                    continue
                level = float(np.percentile(data, plan.percentile, overwrite_input=True))  # data is ours
                tile.set_full_scale(np.full(tile.cols, level), True)
    return left
