import type { LockstepCollection } from "./collection.js";
import { ClientDisposedError } from "./errors.js";
import { getPath, isJsonObject, jsonEquals, Names, type JsonObject, type JsonValue } from "./json.js";

/** The part of a form control the binding reads and writes (inputs, selects, textareas). */
interface Control {
  readonly name: string;
  readonly type: string;
  value: string;
  checked?: boolean;
  readonly multiple?: boolean;
  readonly options?: ArrayLike<{ readonly value: string; selected: boolean }>;
}

/** The part of a form the binding uses: its controls, events, and the document's focus. */
interface FormLike {
  readonly elements: ArrayLike<unknown>;
  readonly ownerDocument: { readonly activeElement: unknown } | null;
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
}

/** Options of {@link bindForm}. */
export interface FormBindingOptions {
  /** The control names to bind (a name is a field path: `title`, `address.city`). Default: every named control of the form. */
  readonly fields?: readonly string[] | undefined;
  /** Called when the server refuses a field's write (the control then shows the server's value again). Default: `console.error`. */
  readonly onError?: ((error: unknown, field: string) => void) | undefined;
}

/** A form bound to a document; dispose it to stop. */
export interface FormBinding {
  /** Stops listening to the form and to the document. */
  dispose(): void;
}

/**
 * Binds the controls of a `<form>` to the fields of one document, by event delegation: one `input`
 * and one `change` listener on the form write each edited control's value as a one-field patch
 * (the control's `name` is the field path), and every change of the document's local view (another
 * user's edit, a refused write returning to the server's value) updates the controls — except the one
 * that has focus, so nobody's typing is overwritten; it catches up when it loses focus.
 *
 * Values: text-like inputs, textareas and selects give strings; `number` and `range` give numbers
 * (empty: null); a lone checkbox gives a boolean, several checkboxes of one name an array of the
 * checked values; radios give the checked value (none: null); a multiple select, an array.
 */
export function bindForm<T extends object>(form: HTMLFormElement, collection: LockstepCollection<T>, docId: string, options: FormBindingOptions = {}): FormBinding {
  const target = form as unknown as FormLike;
  const only = options.fields === undefined ? undefined : new Set(options.fields);
  const onError = options.onError ?? ((error: unknown, field: string) => console.error(`lockstep: the write of '${field}' was refused`, error));

  const controls = (name?: string): Control[] =>
    Array.from(target.elements).filter((e): e is Control => isControl(e) && e.name !== "" && (name === undefined || e.name === name));
  const bound = (name: string): boolean => Names.splitPath(name) !== undefined && (only === undefined || only.has(name));
  const focused = (name: string): boolean => {
    const active = target.ownerDocument?.activeElement;
    return active !== undefined && active !== null && controls(name).some((c) => c === active);
  };
  const current = (name: string): JsonValue | undefined => {
    const doc = collection.get(docId) as JsonObject | undefined;
    return doc === undefined ? undefined : getPath(doc, Names.splitPath(name)!);
  };
  const render = (name: string): void => {
    if (!focused(name)) {
      writeField(controls(name), current(name));
    }
  };
  const renderAll = (): void => {
    for (const name of new Set(controls().map((c) => c.name))) {
      if (bound(name)) {
        render(name);
      }
    }
  };

  // The value this binding last wrote for each field: a browser `change` that only confirms it (fired on
  // blur, after the `input`s that already wrote it) must not write it again over a newer remote edit.
  const written = new Map<string, JsonValue>();
  const onEdit = (event: Event): void => {
    const control = event.target;
    if (!isControl(control) || !bound(control.name) || !controls(control.name).includes(control)) {
      return;
    }
    const value = readField(controls(control.name));
    // A `change` after the `input`s of the same edit would write the same value again.
    if (jsonEquals(value, current(control.name) ?? null)) {
      return;
    }
    if (event.type === "change" && written.has(control.name) && jsonEquals(value, written.get(control.name)!)) {
      return;
    }
    written.set(control.name, value);
    collection.patch(docId, { [control.name]: value } as JsonObject).catch((error: unknown) => {
      // A write cut short by disposal stays queued in the store: not a refusal.
      if (!(error instanceof ClientDisposedError)) {
        onError(error, control.name);
      }
    });
  };
  const onBlur = (event: Event): void => {
    const control = event.target;
    if (isControl(control) && bound(control.name)) {
      // Whatever arrived while it had focus shows now (after the blur completes).
      queueMicrotask(() => render(control.name));
    }
  };

  target.addEventListener("input", onEdit);
  target.addEventListener("change", onEdit);
  target.addEventListener("focusout", onBlur);
  const stop = collection.onChange((change) => {
    if (change.id === docId) {
      renderAll();
    }
  });
  renderAll();

  return {
    dispose(): void {
      target.removeEventListener("input", onEdit);
      target.removeEventListener("change", onEdit);
      target.removeEventListener("focusout", onBlur);
      stop();
    },
  };
}

function isControl(value: unknown): value is Control {
  return typeof value === "object" && value !== null && typeof (value as Control).name === "string" && typeof (value as Control).type === "string" && "value" in value;
}

/** The field's value from all the controls of one name. */
function readField(group: Control[]): JsonValue {
  const first = group[0]!;
  switch (first.type) {
    case "radio":
      return group.find((c) => c.checked === true)?.value ?? null;
    case "checkbox":
      return group.length === 1 ? first.checked === true : group.filter((c) => c.checked === true).map((c) => c.value);
    case "number":
    case "range": {
      const n = first.value.trim() === "" ? NaN : Number(first.value);
      return Number.isFinite(n) ? n : null;
    }
    case "select-multiple":
      return Array.from(first.options ?? []).filter((o) => o.selected).map((o) => o.value);
    default:
      return first.value;
  }
}

/** Shows a field's value in the controls of its name, touching only what differs (so a caret is not moved for nothing). */
function writeField(group: Control[], value: JsonValue | undefined): void {
  for (const control of group) {
    switch (control.type) {
      case "radio":
        setIfDifferent(control, "checked", value !== undefined && value !== null && control.value === String(value));
        break;
      case "checkbox":
        setIfDifferent(control, "checked", group.length === 1 ? value === true : Array.isArray(value) && value.some((v) => String(v) === control.value));
        break;
      case "select-multiple":
        for (const option of Array.from(control.options ?? [])) {
          const selected = Array.isArray(value) && value.some((v) => String(v) === option.value);
          if (option.selected !== selected) {
            option.selected = selected;
          }
        }
        break;
      default: {
        const text = value === undefined || value === null ? "" : isJsonObject(value) || Array.isArray(value) ? JSON.stringify(value) : String(value);
        setIfDifferent(control, "value", text);
      }
    }
  }
}

function setIfDifferent<K extends "value" | "checked">(control: Control, key: K, value: Control[K]): void {
  if (control[key] !== value) {
    control[key] = value;
  }
}
