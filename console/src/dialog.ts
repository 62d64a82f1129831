// The confirmation dialog: the seeds' words and what reruns, as the server offered them;
// resolves with the request to send, or null when cancelled.
import type { Hold, Offer } from "./api";
import { extraOf, requestFrom, reruns } from "./actions";
import { byId } from "./dom";

export function confirmOffer(offer: Offer): Promise<Record<string, unknown> | null> {
  const dialog = byId<HTMLDialogElement>("confirm");
  const extra = extraOf(offer);
  byId("confirm-title").textContent = offer.title;
  byId("confirm-text").textContent = offer.warning;
  byId("confirm-tasks").textContent = reruns(offer);
  const phaseBox = byId<HTMLInputElement>("confirm-phase");
  const jsonText = byId<HTMLTextAreaElement>("confirm-json");
  const jsonError = byId("confirm-json-error");
  byId("confirm-phase-row").hidden = extra !== "step";
  phaseBox.checked = false;
  byId("confirm-json-row").hidden = extra !== "json";
  jsonError.textContent = "";
  const form = byId<HTMLButtonElement>("confirm-ok").form as HTMLFormElement;
  return new Promise((resolve) => {
    const submit = (event: Event) => {
      const button = (event as SubmitEvent).submitter as HTMLButtonElement | null;
      if (!button || button.value !== "ok") return;
      const built = requestFrom(offer, { updatePhase: phaseBox.checked, outputs: jsonText.value });
      if ("error" in built) {
        event.preventDefault();
        jsonError.textContent = built.error;
        return;
      }
      form.removeEventListener("submit", submit);
      resolve(built.body);
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("close", () => { form.removeEventListener("submit", submit); resolve(null); }, { once: true });
    dialog.showModal();
  });
}

// Stop, suspend or resume: the warning, then Confirm or Cancel.
export function confirmHold(hold: Hold): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>("confirm");
  byId("confirm-title").textContent = hold.title;
  byId("confirm-text").textContent = hold.warning;
  byId("confirm-tasks").textContent = "";
  byId("confirm-phase-row").hidden = true;
  byId("confirm-json-row").hidden = true;
  const form = byId<HTMLButtonElement>("confirm-ok").form as HTMLFormElement;
  return new Promise((resolve) => {
    const submit = (event: Event) => {
      const button = (event as SubmitEvent).submitter as HTMLButtonElement | null;
      if (!button || button.value !== "ok") return;
      form.removeEventListener("submit", submit);
      resolve(true);
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener("close", () => { form.removeEventListener("submit", submit); resolve(false); }, { once: true });
    dialog.showModal();
  });
}
