"""A real single-node Slurm on 127.0.0.1 for tests: munged, slurmctld and slurmd in a folder.

Debian's ``slurm-wlm`` daemons (``slurmctld``, ``slurmd``, ``slurm-client``) and ``munge``,
run as root with a private configuration, key, socket, state and logs under one folder, on
free ports, so nothing system-wide is touched. ``ProctrackType=proctrack/linuxproc`` and
``TaskPlugin=task/none`` let it run without cgroups (containers). Use as a context manager;
on exit it stops exactly the daemons it started::

    with LocalSlurm(tmp_path) as slurm:
        os.environ.update(slurm.env)      # SLURM_CONF for sbatch/squeue/scancel
        subprocess.run(["sbatch", "--wrap", "hostname"], check=True)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["LocalSlurm", "SlurmUnavailable", "slurm_available"]

_BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo")


class SlurmUnavailable(RuntimeError):
    """The local Slurm harness cannot run here (binaries, root, or start-up failed)."""


def slurm_available() -> str | None:
    """None when the harness can run; otherwise why not."""
    missing = [b for b in _BINARIES if shutil.which(b) is None]
    if missing:
        return (
            f"missing {missing}: apt-get install slurmctld slurmd slurm-client munge "
            "(workflows/bootstrap.sh does it when it runs as root)"
        )
    if os.geteuid() != 0:
        return "the local Slurm harness runs its daemons as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalSlurm:
    """Start munged + slurmctld + slurmd under ``folder``; stop them on exit."""

    def __init__(self, folder: str | Path, cpus: int | None = None, memory_mb: int = 4000,
                 partition: str = "debug", max_time: str = "01:00:00") -> None:  # fmt: skip
        self.folder = Path(folder).resolve()
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = memory_mb
        self.partition = partition
        self.max_time = max_time
        self.node = "localnode"
        self._procs: dict[str, int] = {}

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment for the Slurm client commands (and jobflow-remote's queue manager)."""
        return {"SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        f = self.folder
        for d in ("state", "spool", "munge"):
            (f / d).mkdir(parents=True, exist_ok=True)
        os.chmod(f / "munge", 0o700)
        self.conf.write_text(
            "\n".join([
                "ClusterName=mttmat-local",
                # slurmctld only runs on the host it is configured for: this machine's name
                f"SlurmctldHost={socket.gethostname().split('.')[0]}(127.0.0.1)",
                "MailProg=/bin/true",
                "SlurmUser=root",
                "SlurmdUser=root",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={f / 'munge' / 'munge.socket'}",
                f"StateSaveLocation={f / 'state'}",
                f"SlurmdSpoolDir={f / 'spool'}",
                f"SlurmctldPidFile={f / 'slurmctld.pid'}",
                f"SlurmdPidFile={f / 'slurmd.pid'}",
                f"SlurmctldLogFile={f / 'slurmctld.log'}",
                f"SlurmdLogFile={f / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "ReturnToService=2",
                "MpiDefault=none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                "InactiveLimit=0",
                "KillWait=5",
                f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
                f"RealMemory={self.memory_mb} State=UNKNOWN",
                f"PartitionName={self.partition} Nodes={self.node} Default=YES "
                f"MaxTime={self.max_time} State=UP",
                "",
            ])
        )  # fmt: skip

    def _start(self, name: str, cmd: list[str], pidfile: Path) -> None:
        log = self.folder / f"{name}.out"
        with open(log, "ab") as fh:
            res = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=60,
                                 env={**os.environ, **self.env})  # fmt: skip
        if res.returncode != 0:
            raise SlurmUnavailable(f"{name} did not start (exit {res.returncode}); see {log}")
        for _ in range(100):
            if pidfile.is_file() and pidfile.read_text().strip():
                self._procs[name] = int(pidfile.read_text().split()[0])
                return
            time.sleep(0.1)
        raise SlurmUnavailable(f"{name} wrote no pid file {pidfile}")

    def start(self) -> LocalSlurm:
        why = slurm_available()
        if why:
            raise SlurmUnavailable(why)
        self._write_config()
        m = self.folder / "munge"
        key = m / "munge.key"
        if not key.is_file():
            subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True,
                           capture_output=True)  # fmt: skip
            os.chmod(key, 0o400)
        self._start("munged", [
            "munged", "--force", f"--socket={m / 'munge.socket'}", f"--key-file={key}",
            f"--pid-file={m / 'munged.pid'}", f"--log-file={m / 'munged.log'}",
            f"--seed-file={m / 'munged.seed'}",
        ], m / "munged.pid")  # fmt: skip
        self._start("slurmctld", ["slurmctld", "-f", str(self.conf)], self.folder / "slurmctld.pid")
        self._start("slurmd", ["slurmd", "-f", str(self.conf), "-N", self.node],
                    self.folder / "slurmd.pid")  # fmt: skip
        self.wait_idle()
        return self

    def wait_idle(self, timeout_s: float = 60.0) -> None:
        """Wait until the node is up; raise with the daemon logs if it never is."""
        env = {**os.environ, **self.env}
        deadline = time.time() + timeout_s
        state = ""
        while time.time() < deadline:
            res = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True,
                                 text=True, env=env)  # fmt: skip
            state = res.stdout.strip()
            if state.startswith(("idle", "mixed", "allocated")):
                return
            time.sleep(0.5)
        self.stop()
        raise SlurmUnavailable(f"the local Slurm node is {state or 'not reported'} after "
                               f"{timeout_s:.0f} s; logs in {self.folder}")  # fmt: skip

    def stop(self) -> None:
        """Stop the daemons started here (slurmd, slurmctld, munged), newest first."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self._procs.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
