import { isJsonObject, jsonEquals, Names, type JsonObject, type JsonValue } from "./json.js";

/** A comparison operand: a number or a string. */
export type FilterScalar = number | string;

/** Conditions on one top-level field: equality with a value, or operators. */
export type FilterCondition =
  | Exclude<JsonValue, JsonObject>
  | {
      $eq?: JsonValue;
      $in?: JsonValue[];
      $gt?: FilterScalar;
      $gte?: FilterScalar;
      $lt?: FilterScalar;
      $lte?: FilterScalar;
    };

/**
 * A subscription filter (docs/protocol.md §4): conditions on top-level fields, all of which must hold.
 * `{ status: "open", priority: { $in: [1, 2] }, age: { $gte: 18 } }`. A non-object value means
 * equality; compare with an object by writing `{ $eq: {...} }`.
 */
export type Filter = Readonly<Record<string, FilterCondition>>;

type Test = (doc: JsonObject) => boolean;

/**
 * Compiles a filter to a predicate over documents, with the server's semantics: numbers by value,
 * strings by UTF-16 code unit, values of different types never match, `null` matches a missing
 * field. Throws a TypeError for a malformed filter (the server would answer `invalid_filter`).
 */
export function compileFilter(filter: Filter | undefined | null): (doc: JsonObject) => boolean {
  if (filter === undefined || filter === null) {
    return () => true;
  }
  if (!isJsonObject(filter)) {
    throw new TypeError("A filter is an object of field conditions.");
  }
  const tests: Test[] = [];
  for (const [field, condition] of Object.entries(filter as Record<string, unknown>)) {
    if (!Names.isValidFieldName(field)) {
      throw new TypeError(`'${field}' is not a top-level field name.`);
    }
    if (!isJsonObject(condition)) {
      tests.push(equals(field, condition as JsonValue));
      continue;
    }
    const operators = Object.entries(condition);
    if (operators.length === 0) {
      throw new TypeError(`'${field}': an empty condition object; write {"$eq": {}} to match an empty object.`);
    }
    for (const [name, operand] of operators) {
      switch (name) {
        case "$eq":
          tests.push(equals(field, operand));
          break;
        case "$in":
          if (!Array.isArray(operand)) {
            throw new TypeError(`'${field}': $in takes an array.`);
          }
          tests.push((doc) => operand.some((value) => equals(field, value)(doc)));
          break;
        case "$gt":
        case "$gte":
        case "$lt":
        case "$lte": {
          if (typeof operand !== "number" && typeof operand !== "string") {
            throw new TypeError(`'${field}': ${name} takes a number or a string.`);
          }
          const accept = name === "$gt" ? (c: number) => c > 0 : name === "$gte" ? (c: number) => c >= 0 : name === "$lt" ? (c: number) => c < 0 : (c: number) => c <= 0;
          tests.push((doc) => {
            if (!Object.hasOwn(doc, field)) {
              return false;
            }
            const c = compare(doc[field]!, operand);
            return c !== undefined && accept(c);
          });
          break;
        }
        default:
          throw new TypeError(`'${field}': unknown operator '${name}' (use $eq, $in, $gt, $gte, $lt, $lte).`);
      }
    }
  }
  return (doc) => tests.every((t) => t(doc));
}

function equals(field: string, operand: JsonValue): Test {
  return (doc) => (Object.hasOwn(doc, field) ? jsonEquals(doc[field], operand) : operand === null);
}

function compare(a: JsonValue, b: FilterScalar): number | undefined {
  if (typeof a === "number" && typeof b === "number") {
    return Math.sign(a - b);
  }
  if (typeof a === "string" && typeof b === "string") {
    // Ordinal by UTF-16 code unit, as the server compares.
    return a < b ? -1 : a > b ? 1 : 0;
  }
  return undefined;
}
