"""What every figure module shares."""

from __future__ import annotations

__all__ = ["save_figure"]


def save_figure(fig: object, path: object, dpi: int = 150) -> object:
    """Lay out, write (PNG at ``dpi``) and close a matplotlib figure; return ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi, bbox_inches="tight")  # nothing clipped: long titles, legends
    plt.close(fig)
    return path
