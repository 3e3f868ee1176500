"""Whole videos: the job runner (`jobs`), its resumable work folder (`workfolder`), the
assembly of finished windows into the output (`assemble`), the upscalers a job runs, the model
and the classical baselines (`upscalers`), and a job shared over several processes
(`distributed`)."""
