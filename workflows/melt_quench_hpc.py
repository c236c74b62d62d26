"""HPC recipe: full-size melt-quench with VASP AIMD (PBE+U), 128-atom WOx or 168-atom NbOx.

Builds the flow from ``mttmat/data/melt_quench_hpc.yaml`` with the ``vasp`` backend (atomate2
``MDMaker`` per schedule segment: TEBEG→TEEND ramps, Langevin, Γ-point, the DFT+U INCAR of
``mttmat.backends.vasp``; then an ISIF=3 relax to EDIFFG = −0.02 eV/Å, then the amorphous
analysis). Without ``--submit`` it writes the flow JSON and one job's VASP inputs for
inspection; with ``--submit`` it hands the flow to jobflow-remote (``jf`` project configured
as in the README), e.g.

    python workflows/melt_quench_hpc.py --material WOx --inspect vasp_inputs_wox/
    python workflows/melt_quench_hpc.py --material NbOx --replicas 3 --submit --worker hpc
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml
from monty.json import MontyEncoder

from mttmat.chain.build import build_start
from mttmat.chain.config import StartCell
from mttmat.flows.vasp import VaspMeltQuenchMaker
from mttmat.jobs.melt_quench import MeltQuenchSchedule
from mttmat.materials import material_spec

HERE = Path(__file__).resolve().parent


def build(material: str, replicas: int, schedule_file: Path):
    sched = MeltQuenchSchedule.model_validate(yaml.safe_load(schedule_file.read_text())["schedule"])
    # the material's full-size cell from the materials table (WOx: γ-WO3 2×2×1, 128 atoms;
    # NbOx: B-Nb2O5 coordinates are not at hand, random Nb48O120 at 4.5 g/cm³, 168 atoms)
    try:
        start, parent, _ = build_start(StartCell(**material_spec(material).full_cell))
    except ValueError as err:
        raise SystemExit(str(err)) from err
    maker = VaspMeltQuenchMaker(name=f"melt-quench {material}", schedule=sched,
                                replicas=replicas)  # fmt: skip
    return maker.make(start, parent=parent), start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--material", choices=["WOx", "NbOx"], required=True)
    ap.add_argument("--replicas", type=int, default=1)
    default = HERE.parent / "mttmat" / "data" / "melt_quench_hpc.yaml"
    ap.add_argument("--schedule", type=Path, default=default)
    ap.add_argument("--inspect", type=Path, help="write the first AIMD job's VASP inputs here")
    ap.add_argument("--submit", action="store_true", help="submit with jobflow-remote")
    ap.add_argument("--worker", default=None, help="jobflow-remote worker name")
    ap.add_argument("-o", "--output", type=Path, default=Path("melt_quench_flow.json"))
    args = ap.parse_args()
    flow, start = build(args.material, args.replicas, args.schedule)
    args.output.write_text(json.dumps(flow, cls=MontyEncoder))
    print(f"flow with {len(flow.jobs)} jobs written to {args.output}")
    if args.inspect:
        from mttmat.backends.vasp import write_vasp_inputs

        first = next(j for j in flow.jobs if "AIMD" in j.name)
        write_vasp_inputs(first.maker, start, args.inspect)
        print(f"VASP inputs of {first.name!r} in {args.inspect}")
    if args.submit:
        try:
            from jobflow_remote import submit_flow
        except ImportError as err:
            raise SystemExit(
                "jobflow-remote is not installed: pip install 'mttmat[hpc]' on the submit host"
            ) from err
        submit_flow(flow, worker=args.worker)
        print("submitted; follow it with `jf job list` / `jf flow list`")


if __name__ == "__main__":
    main()
