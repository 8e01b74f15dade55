"""The compiled simulator: numba kernels that compute exactly what the reference path computes.

:mod:`envs.kernel.layout` flattens the scenario's arrays for the kernel; :mod:`envs.kernel.compiled` holds every
compiled function (noise, transition and env step). Importing :mod:`envs.kernel.compiled` needs numba;
:mod:`envs.simulator` falls back to the reference path without it.
"""
