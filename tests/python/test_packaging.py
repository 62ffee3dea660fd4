"""The package around the operators: the import-time build check, the type stubs, the requirement check.

The build itself (no CUDA toolkit, a fresh venv, the wheel, the C++ package) is proven by .ci/run;
these are the parts that run in a second.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import statmech
from statmech import _build_check, _C

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(statmech.__file__).parent


def test_build_record_matches_the_running_torch():
    record = _build_check.read_build_record(_C.__file__)
    assert record is not None
    assert record["torch"] == torch.__version__
    assert record["torch_cuda"] == (torch.version.cuda or "none")
    assert (record["cuda_kernels"] == "none") == (_C.cuda_version() < 0)


BUILT = {"torch": "2.11.0+cu130", "torch_cuda": "13.0", "cuda_kernels": "13.0.88"}
CPU_ONLY = {"torch": "2.11.0+cu130", "torch_cuda": "13.0", "cuda_kernels": "none"}


@pytest.mark.parametrize(
    "record, version, cuda, expected",
    [
        (BUILT, "2.11.0+cu130", "13.0", None),
        (BUILT, "2.11.0+cu132", "13.2", None),  # same CUDA major: the runtime is compatible
        (BUILT, "2.12.0+cu130", "13.0", "built for torch 2.11.0+cu130 but torch 2.12.0+cu130 is installed"),
        (BUILT, "2.11.0+cpu", None, "has no CUDA"),
        (BUILT, "2.11.0+cu126", "12.6", "uses CUDA 12.6"),
        (CPU_ONLY, "2.11.0+cpu", None, None),  # CPU-only extensions load into any build of the release
        (CPU_ONLY, "2.10.0", None, "built for torch 2.11.0+cu130 but torch 2.10.0 is installed"),
    ],
)
def test_mismatch_rules(record, version, cuda, expected):
    message = _build_check.mismatch(record, version, cuda)
    if expected is None:
        assert message is None
    else:
        assert expected in message
        assert "\n" not in message and "pip install --no-build-isolation ." in message


def _import_statmech_with(torch_version: str) -> subprocess.CompletedProcess:
    code = (
        "import sys, torch\n"
        f"torch.__version__ = {torch_version!r}\n"
        "try:\n"
        "    import statmech\n"
        "except ImportError as e:\n"
        "    print('IMPORT-ERROR:', e)\n"
        "print('C-LOADED:', 'statmech._C' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PACKAGE.parent)] + sys.path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_another_torch_gets_a_one_line_message_before_the_module_loads():
    result = _import_statmech_with("2.99.0")
    assert "IMPORT-ERROR: statmech was built for torch" in result.stdout, result.stdout + result.stderr
    assert "but torch 2.99.0 is installed: rebuild it" in result.stdout
    # The check ran before statmech._C was loaded: no undefined symbols, no registrations.
    assert "C-LOADED: False" in result.stdout


def test_the_same_torch_imports():
    result = _import_statmech_with(torch.__version__)
    assert "IMPORT-ERROR" not in result.stdout, result.stdout + result.stderr
    assert "C-LOADED: True" in result.stdout


def _stub_names(node_body) -> set:
    names = set()
    for node in node_body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_type_stubs_cover_the_native_module():
    assert (PACKAGE / "py.typed").exists()
    tree = ast.parse((PACKAGE / "_C.pyi").read_text())
    top = _stub_names(tree.body)
    public = {n for n in dir(_C) if not n.startswith("_")}
    assert public <= top, f"add to python/statmech/_C.pyi: {sorted(public - top)}"
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "_Meanfield":
            stubbed = _stub_names(node.body)
    native = {n for n in dir(_C.meanfield) if not n.startswith("_")}
    assert native <= stubbed, f"add to class _Meanfield in python/statmech/_C.pyi: {sorted(native - stubbed)}"


def test_missing_requirements_are_named_without_the_network(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "torch==" + torch.__version__.split("+")[0] + "\n"
        "statmech-no-such-package>=1.0  # a comment\n"
        "torch<1.0 ; python_version < '3'\n"  # not for this Python: ignored
        "pytest<1\n"
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_requirements.py"), str(requirements)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("statmech-no-such-package: not installed") for line in lines), result.stdout
    assert any(line.startswith("pytest:") and "installed, pytest<1 wanted" in line for line in lines)
    assert not any(line.startswith("torch") for line in lines)


def test_the_repository_cites_nothing_outside_itself():
    """Design notes live in docs/; no file points at documents that exist only outside the repo."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if files.returncode != 0:
        pytest.skip("not a git checkout")
    outside = ["DESIGN" + ".md", "STYLE" + ".md", "../" + "shared"]
    offenders = []
    for name in files.stdout.split():
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".pt", ".whl"}:
            continue
        text = path.read_text(errors="ignore")
        offenders += [f"{name}: {word}" for word in outside if word in text]
    assert not offenders, offenders
    for doc in ("design.md", "dual_activation.md", "build.md"):
        assert (ROOT / "docs" / doc).is_file()


def _load_setup_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("statmech_setup_py", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines the helpers; setup() runs only as __main__
    return module


def test_build_directory_is_configured_again_when_the_setup_changes(tmp_path, monkeypatch):
    setup_py = _load_setup_py()
    configured = []
    monkeypatch.setattr(setup_py.subprocess, "check_call", lambda cmd: configured.append(cmd))
    monkeypatch.setenv("STATMECH_WITH_CUDA", "0")
    build = tmp_path / "cmake"

    setup_py.ensure_configured(build)  # first time: configure
    assert len(configured) == 1 and "-DSTATMECH_WITH_CUDA=OFF" in configured[0]
    build.mkdir(exist_ok=True)
    (build / "CMakeCache.txt").write_text("")
    (build / "stale.o").write_text("")

    setup_py.ensure_configured(build)  # nothing changed: nothing to do
    assert len(configured) == 1 and (build / "stale.o").exists()

    monkeypatch.setattr(setup_py, "build_key", lambda: dict(json.loads((build / setup_py.KEY_FILE).read_text()),
                                                            torch="2.99.0"))
    setup_py.ensure_configured(build)  # another torch: from scratch
    assert len(configured) == 2 and not (build / "stale.o").exists()

    key = setup_py.build_key()
    for field in ("python", "ext_suffix", "torch", "torch_cuda", "with_cuda", "cuda_toolkit", "cuda_arch_list",
                  "cxx", "generator"):
        assert field in key



@pytest.mark.skipif(not (sys.platform.startswith("linux") and shutil.which("g++") and shutil.which("readelf")),
                    reason="needs g++ and readelf on Linux")
def test_configure_refuses_a_compiler_that_links_libstdcxx_statically(tmp_path):
    # The configure-time probe of csrc/cmake/statmechCxxRuntime.cmake, run in CMake's script mode
    # with the variables a configure sets: a static C++ runtime (here forced by -static-libstdc++,
    # on the GPU machine by a compiler that ships only libstdc++.a) stops the build with a message
    # naming the compiler; the distribution's g++ passes.
    driver = tmp_path / "probe.cmake"
    driver.write_text(f'include("{ROOT}/csrc/cmake/statmechCxxRuntime.cmake")\nstatmech_require_shared_cxx_runtime()\n')

    def probe(flags):
        return subprocess.run(
            ["cmake", f"-DCMAKE_CXX_COMPILER={shutil.which('g++')}", "-DCMAKE_CXX_COMPILER_ID=GNU",
             "-DCMAKE_SYSTEM_NAME=Linux", f"-DCMAKE_CXX_FLAGS={flags}", "-P", str(driver)],
            capture_output=True, text=True, cwd=tmp_path)  # script mode: CMAKE_BINARY_DIR is the cwd

    shared = probe("")
    assert shared.returncode == 0, shared.stderr
    static = probe("-static-libstdc++")
    assert static.returncode != 0
    assert "links the C++ runtime statically" in static.stderr and "g++" in static.stderr
