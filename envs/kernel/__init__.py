"""The compiled simulator: numba kernels that compute exactly what the reference path computes.

:mod:`envs.kernel.layout` flattens the scenario's arrays for the kernel; :mod:`envs.kernel.noise`,
:mod:`envs.kernel.transition` and :mod:`envs.kernel.step` are the compiled noise, transition and env step.
Importing :mod:`envs.kernel.step` needs numba; :mod:`envs.simulator` falls back to the reference path
without it.
"""
