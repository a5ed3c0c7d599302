"""Start a job detached, follow its output, collect its result.

    python examples/quickstart.py

Runs on the local backend (no cluster needed); artifacts go to ~/.kinetic/store unless
KINETIC_STORE says otherwise. The job id is printed so you can reattach from another shell:
`kinetic jobs status ID`, `kinetic jobs logs ID --follow`, `kinetic jobs result ID`.
"""

import time

import kinetic


@kinetic.run(accelerator="cpu", timeout=600)
def train(epochs: int) -> dict:
    loss = 1.0
    for epoch in range(epochs):
        time.sleep(0.2)
        loss *= 0.7
        print(f"epoch {epoch}: loss={loss:.4f}")
        if kinetic.cancelled():  # set by `kinetic jobs cancel ID`
            print("cancelled, stopping early")
            break
    out = kinetic.output_dir()
    (out / "model.txt").write_text(f"final loss {loss}\n")
    return {"final_loss": round(loss, 4), "epochs": epochs}


if __name__ == "__main__":
    job = train.run_async(5)
    print(f"started job {job.job_id}; following its output:")
    job.logs(follow=True)
    print("outputs:", job.outputs())
    print("result:", job.result(cleanup=False))
    print(f"status: {job.status().value}  (clean up with: kinetic jobs cleanup {job.job_id})")
