"""The main job (``mttmat run``): its config (:mod:`~mttmat.runs.config`), the run
(:mod:`~mttmat.runs.main_job`: one flow, resumable, then the device stage), its files
(:mod:`~mttmat.runs.files`), report (:mod:`~mttmat.runs.report`) and stage timings
(:mod:`~mttmat.runs.timings`)."""
