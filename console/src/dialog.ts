// The confirmation dialog: the seeds' words and what reruns, as the server offered them;
// resolves with the request to send, or null when cancelled.
import type { Offer } from "./api";
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
