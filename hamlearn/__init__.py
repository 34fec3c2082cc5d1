"""hamlearn: learn effective minimal-basis Hamiltonians, derive properties by physics.

Importing hamlearn switches JAX to float64 (``jax_enable_x64``): every QM path of the
package is float64 by design, and silently falling back to float32 would cost ~1e-7
relative accuracy in eigenvalues and break the 1e-10 symmetry tests.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from hamlearn.data.structure import Structure as Structure  # noqa: E402

__version__ = "0.1.0"
