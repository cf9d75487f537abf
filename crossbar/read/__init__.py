"""Everything one read of a crossbar does: programmed tiles, converters, noise, the MVM.

Beneath it lie only the device profiles (``crossbar.devices``) and the shared helpers at
the top of ``crossbar`` (seeds, checks, threads); above it, ``crossbar.nn`` reads arrays.

- ``array.py``: ``CrossbarArray``, a weight matrix on tiles and the one read path every
  caller uses (``mvm``, ``read``, ``read_patches``, ``age``, ``calibrate``).
- ``tile.py``: one tile's programming record (regenerated from weights and seed), drift to a
  time, the circuit noise floor and ADC full scale per column.
- ``layout.py``: how the array stores its read state (float16 conductance below the read noise
  of profiles without drift, one variance value where every cell has it) and the operands a
  read gets back from it, a band at a time.
- ``plan.py``: ``ReadPlan``, the conversions one MVM makes under the converter settings;
  ``ReadStats``.
- ``cpu.py`` (Numba) and ``torch_read.py`` (plain torch, the reference and the accelerator
  path): the same read, DAC -> band products -> noise + ADC + digital sum.
- ``kernels.py``: the counter-based Gaussian generators and the programming kernels
  (programming noise, stuck-at faults, levels, program-and-verify, drift).
- ``dac_kernels.py``: inputs or a convolution's patches to row voltages.
- ``adc_kernels.py``: read noise (Box-Muller blocks), ADC and the digital sum over row bands.
- ``wires.py``: wire resistance (IR drop): the exact nodal solution of a tile's network (the
  oracle) and the fast per-cell gains the tile folds into its read state.
- ``variance.py``: the read-noise variance product bit for bit the bfloat16 product, through a
  float32 product where that is faster (CPUs without AMX).
- ``timing.py``: read noise in time (a session and a call, or a vote group, sharing the slow 1/f
  noise; the time of one vector's read).
- ``calibration.py``: the calibrated ADC range.
- ``ops.py``: tensor operations of a read without a kernel (im2col, the variance product,
  keyed normals, the Eq. 2/3 sampler, the recurrence of RNN/GRU/LSTM layers).
- ``operands.py``: operands checked once (float32, finite, keys).
"""
