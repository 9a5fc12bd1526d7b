"""Build hook for jaxrec's optional C++ kernel (``jaxrec.ops._selection_kernel``).

Everything else about the package lives in pyproject.toml. The kernel needs a C++17 compiler and
the XLA FFI headers that ship inside jaxlib; when either is missing, or the compile fails, the
package installs without it and selection uses the portable ``lax.top_k`` path.
"""

import importlib.util
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _jaxlib_include_dir() -> str | None:
    """jaxlib's bundled ``include`` folder (what ``jax.ffi.include_dir()`` returns), if present.

    Located without importing jaxlib, which would need its runtime dependencies at build time.
    """
    spec = importlib.util.find_spec("jaxlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        include = os.path.join(location, "include")
        if os.path.isfile(os.path.join(include, "xla", "ffi", "api", "ffi.h")):
            return include
    return None


class OptionalBuildExt(build_ext):
    """Build the kernel when the FFI headers are found; never fail the install because of it."""

    def build_extensions(self):
        include = _jaxlib_include_dir()
        if include is None:
            print("jaxrec: jaxlib's XLA FFI headers not found; skipping the C++ selection kernel")
            return
        for ext in self.extensions:
            # -isystem: the headers' own warnings are not ours to fix.
            ext.extra_compile_args += ["-isystem", include]
        super().build_extensions()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:  # compiler missing or failing: the portable path remains
            print(f"jaxrec: building {ext.name} failed ({error}); using the portable path")


setup(
    ext_modules=[
        Extension(
            "jaxrec.ops._selection_kernel",
            sources=["jaxrec/ops/selection_kernel.cc"],
            language="c++",
            extra_compile_args=["-std=c++17", "-O3", "-fvisibility=hidden"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
