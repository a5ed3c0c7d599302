"""The sshd an ``ssh=True`` job gets: started by the runner from the job's image (or, on the
local backend, this machine), before the job runs, and stopped when it ends.

It listens on port 2202 with a host key generated for this job, lets in only the keys of
``ssh_public_key`` (no passwords), as the user the runner runs as. Where there is no sshd
(not on PATH, not in /usr/sbin), or it cannot start, the job fails at once with reason
``SshUnavailable`` and the function never runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from kinetic.model.spec_record import SpecRecord

SSH_PORT = 2202
# Where images put sshd when /usr/sbin is not on PATH (a non-root user's PATH often lacks it).
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
START_TIMEOUT = 15.0


class SshUnavailable(Exception):
    """No usable sshd: the job cannot offer ssh."""


def find_program(name: str, override: str | None = None) -> str:
    """The absolute path of ``name`` (sshd re-executes itself, so it needs one)."""
    if override:
        if os.path.isabs(override) and os.access(override, os.X_OK):
            return override
        raise SshUnavailable(f"KINETIC_SSHD={override} is not an executable file")
    found = shutil.which(name)
    if found:
        return os.path.abspath(found)
    for directory in SBIN_DIRS:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    raise SshUnavailable(
        f"ssh=True needs {name} (the OpenSSH server) in the job's image: there is none on PATH "
        f"or in {', '.join(SBIN_DIRS)}. Install openssh-server in the image, or drop ssh=True"
    )


class SshServer:
    def __init__(self, authorized_keys: str, port: int = SSH_PORT, sshd: str | None = None):
        self.authorized_keys, self.port, self.sshd_override = authorized_keys, port, sshd
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: Path | None = None

    def start(self) -> SshServer:
        sshd = find_program("sshd", self.sshd_override)
        keygen = shutil.which("ssh-keygen") or os.path.join(os.path.dirname(sshd), "ssh-keygen")
        self.dir = Path(tempfile.mkdtemp(prefix="kinetic-sshd-"))
        try:
            self._launch(sshd, keygen if os.access(keygen, os.X_OK) else "ssh-keygen")
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, sshd: str, keygen: str) -> None:
        assert self.dir is not None
        host_key, keys = self.dir / "host_ed25519", self.dir / "authorized_keys"
        made = subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            raise SshUnavailable(f"cannot make sshd's host key: {made.stderr.strip()}")
        keys.write_text(self.authorized_keys)
        keys.chmod(0o600)
        config = self.dir / "sshd_config"
        config.write_text(
            f"Port {self.port}\n"
            f"HostKey {host_key}\n"
            f"AuthorizedKeysFile {keys}\n"
            # Our files live under /tmp, which sshd's ownership checks would reject.
            "StrictModes no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "PermitRootLogin prohibit-password\n"
            "PidFile none\n"
            "Subsystem sftp internal-sftp\n"
        )
        if os.geteuid() == 0:
            # sshd insists on its privilege separation directory, which images (and
            # machines where the ssh service never ran) may lack.
            with contextlib.suppress(OSError):
                os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        log = self.dir / "sshd.log"
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                start_new_session=True,  # its sessions go with it at stop()
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "Server listening on" in text:
                return
            if self.proc.poll() is not None:
                raise SshUnavailable(f"sshd could not start: {text.strip()[-500:]}")
            time.sleep(0.05)
        raise SshUnavailable(f"sshd did not listen within {START_TIMEOUT:g}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def _die_with_parent() -> None:
    """If the runner is killed outright, sshd must not outlive it (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_for_job(spec: SpecRecord) -> SshServer:
    """The job's sshd, started; ``KINETIC_SSHD`` (job env, then ours) picks the binary."""
    override = (spec.get("env") or {}).get("KINETIC_SSHD") or os.environ.get("KINETIC_SSHD")
    return SshServer(spec.get("ssh_public_key") or "", sshd=override).start()
