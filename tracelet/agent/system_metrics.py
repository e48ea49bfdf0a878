"""System metrics of the training process, sampled in the delivery agent.

The agent knows the training process's pid, so sampling costs the training process
nothing (no thread, no GIL). Every ``interval`` seconds (default 10) a
:class:`~tracelet.events.SystemSample` goes to each backend that records system metrics,
which writes it under its tracker's own names. The names here are MLflow's (its system
metrics monitor's, without the ``system/`` prefix), plus what MLflow lacks:

==========================================  ===============================================
name                                        meaning
==========================================  ===============================================
``cpu_utilization_percentage``              whole machine, since the previous sample
``system_memory_usage_megabytes``           used memory (MB = 10^6 bytes, as MLflow)
``system_memory_usage_percentage``          used / total
``system_memory_available_megabytes``       available memory
``process_cpu_utilization_percentage``      training process (100 = one core)
``process_rss_megabytes``                   training process resident set size
``process_memory_percentage``               its RSS / total memory
``disk_usage_percentage``                   of ``/``
``disk_usage_megabytes``                    used on ``/``
``disk_available_megabytes``                free on ``/``
``disk_read_megabytes``                     read since sampling started (all disks)
``disk_write_megabytes``                    written since sampling started
``network_receive_megabytes``               received since sampling started
``network_transmit_megabytes``              sent since sampling started
``gpu_<i>_utilization_percentage``          NVML, per GPU (``tracelet[gpu]``)
``gpu_<i>_memory_usage_megabytes``          NVML
``gpu_<i>_memory_usage_percentage``         NVML
``gpu_<i>_temperature_celsius``             NVML
``gpu_<i>_power_usage_watts``               NVML
``gpu_<i>_power_usage_percentage``          of the GPU's power limit
==========================================  ===============================================

A sensor that is missing (no GPU, no NVML, no disk counters in a container) is skipped,
never an error.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from tracelet.events import SystemSample

log = logging.getLogger("tracelet.agent")
MB = 1e6


class _Gpus:
    """NVML readings, per GPU; empty when NVML or its driver is missing."""

    def __init__(self) -> None:
        self.handles: list[Any] = []
        try:
            import pynvml
        except ImportError:
            return
        self._nvml = pynvml
        try:
            pynvml.nvmlInit()
            self.handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
        except pynvml.NVMLError as error:
            log.info("no GPU metrics: %s", error)

    def read(self) -> Iterator[tuple[str, float]]:
        for index, handle in enumerate(self.handles):
            for name, reading in self._readings(handle):
                try:
                    yield f"gpu_{index}_{name}", float(reading())
                except self._nvml.NVMLError:  # a sensor this GPU lacks
                    continue

    def _readings(self, handle: Any) -> list[tuple[str, Callable[[], float]]]:
        nvml = self._nvml

        def memory():
            return nvml.nvmlDeviceGetMemoryInfo(handle)

        def power_watts():
            return nvml.nvmlDeviceGetPowerUsage(handle) / 1000

        return [
            ("utilization_percentage", lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
            ("memory_usage_megabytes", lambda: memory().used / MB),
            ("memory_usage_percentage", lambda: memory().used / memory().total * 100),
            (
                "temperature_celsius",
                lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU),
            ),
            ("power_usage_watts", power_watts),
            (
                "power_usage_percentage",
                lambda: power_watts() / (nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000) * 100,
            ),
        ]


class SystemSampler:
    """Reads the machine's and one process's resource use (``pid``: the training process)."""

    def __init__(self, pid: int):
        import psutil

        self._psutil = psutil
        try:
            self._process = psutil.Process(pid)
            self._process.cpu_percent()
        except psutil.Error:
            self._process = None
        psutil.cpu_percent()  # the first call only starts the measurement
        self._disk0 = self._disk_io()
        self._net0 = self._net_io()
        self._gpus = _Gpus()

    def sample(self) -> dict[str, float]:
        psutil = self._psutil
        values: dict[str, float] = {"cpu_utilization_percentage": psutil.cpu_percent()}
        memory = psutil.virtual_memory()
        values["system_memory_usage_megabytes"] = memory.used / MB
        values["system_memory_usage_percentage"] = memory.used / memory.total * 100
        values["system_memory_available_megabytes"] = memory.available / MB
        if self._process is not None:
            try:
                with self._process.oneshot():
                    values["process_cpu_utilization_percentage"] = self._process.cpu_percent()
                    rss = self._process.memory_info().rss
                values["process_rss_megabytes"] = rss / MB
                values["process_memory_percentage"] = rss / memory.total * 100
            except psutil.Error:  # the training process is gone
                self._process = None
        try:
            disk = psutil.disk_usage(os.sep)
            values["disk_usage_percentage"] = disk.percent
            values["disk_usage_megabytes"] = disk.used / MB
            values["disk_available_megabytes"] = disk.free / MB
        except OSError:
            pass
        disk_io, net_io = self._disk_io(), self._net_io()
        if disk_io and self._disk0:
            values["disk_read_megabytes"] = (disk_io[0] - self._disk0[0]) / MB
            values["disk_write_megabytes"] = (disk_io[1] - self._disk0[1]) / MB
        if net_io and self._net0:
            values["network_receive_megabytes"] = (net_io[0] - self._net0[0]) / MB
            values["network_transmit_megabytes"] = (net_io[1] - self._net0[1]) / MB
        values.update(self._gpus.read())
        return values

    def _disk_io(self) -> tuple[int, int] | None:
        try:
            counters = self._psutil.disk_io_counters()
        except (OSError, RuntimeError):
            return None
        return (counters.read_bytes, counters.write_bytes) if counters else None

    def _net_io(self) -> tuple[int, int] | None:
        try:
            counters = self._psutil.net_io_counters()
        except OSError:
            return None
        return (counters.bytes_recv, counters.bytes_sent) if counters else None


class SamplingThread:
    """Calls ``deliver`` with a sample every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float, deliver: Callable[[SystemSample], None]):
        self.interval = interval
        self._deliver = deliver
        self._sampler = SystemSampler(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tracelet-system", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _until(self, started: float, tick: int) -> float:
        return max(0.0, started + tick * self.interval - time.monotonic())

    def _loop(self) -> None:
        started = time.monotonic()
        ticks = index = 0
        # the first sample after one interval: CPU utilisation is measured over it
        while not self._stop.wait(self._until(started, ticks + 1)):
            ticks += 1
            try:
                values = self._sampler.sample()
            except Exception:  # never let a sensor stop delivery
                log.exception("system metrics sample failed")
                continue
            self._deliver(SystemSample(index, time.time(), time.monotonic() - started, values))
            index += 1
