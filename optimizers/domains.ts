/**
 * Domains of optimizer options: the values each option may take, declared by every method beside its
 * `*_DEFAULTS` (e.g. `ADAMW_DOMAINS`) and passed to `defineOptimizer`, which checks every option given
 * to the factory before anything is built. The runner's config checks the same table (with the config
 * key in the error) and the tf.Optimizer adapter goes through the factory, so one table serves both
 * entry points. A domain checks one value alone; rules between options (Nesterov needs momentum > 0,
 * epsilonMode 'relative' needs rootMethod 'newton') stay in the method's builder.
 *
 * A new method writes `export const LION_DOMAINS: Domains<LionOptions> = { lr: positive, beta1: unitInterval, ... }`
 * (the mapped type makes a missing option a type error) and `defineOptimizer('lion', LION_DEFAULTS, build, { domains: LION_DOMAINS })`.
 */

/** The values one option may take. */
export interface Domain {
  /** The allowed values in words, as error messages print them: '> 0', 'in [0, 1)', "one of 'l2', 'decoupled'". */
  readonly range: string;
  /** Whether `v` is an allowed value. */
  contains(v: unknown): boolean;
  /**
   * For numeric domains that are intervals (convex): a search range {low, high} lies in the domain when
   * both ends do. Absent for domains where that does not hold (enumerations, unions).
   */
  readonly interval?: true;
  /** Values just outside the domain (of the option's own type), for tests that every entry point rejects them. */
  readonly outside: readonly unknown[];
}

/** A domain for every option of O (missing keys are a type error). */
export type Domains<O> = { readonly [K in keyof Required<O>]-?: Domain };

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const fmt = (x: number) => (x === Infinity ? 'inf' : String(x));

/**
 * Real numbers between `low` and `high`; `lowOpen` / `highOpen` exclude the ends. Range text
 * '(0, 1]', '> 0' (0, inf), '>= 0' [0, inf).
 */
export function interval(low: number, high: number, ends: { lowOpen?: boolean; highOpen?: boolean } = {}): Domain {
  const lowOpen = ends.lowOpen ?? false;
  const highOpen = ends.highOpen ?? high === Infinity;
  const range = high === Infinity ? `${lowOpen ? '>' : '>='} ${fmt(low)}` : `in ${lowOpen ? '(' : '['}${fmt(low)}, ${fmt(high)}${highOpen ? ')' : ']'}`;
  const contains = (v: unknown) => isNum(v) && (lowOpen ? v > low : v >= low) && (highOpen ? v < high : v <= high);
  const candidates = [low, low - 1, low - 0.5, -0.01, high, high + 0.5, 1.5].filter(Number.isFinite);
  return { range, interval: true, contains, outside: candidates.filter((v) => !contains(v)) };
}

/** Integers >= `min` (counts: iterations, frequencies, dimensions). */
export function integer(min: number): Domain {
  return { range: `an integer >= ${min}`, interval: true, contains: (v) => isNum(v) && Number.isInteger(v) && v >= min, outside: [min - 1, min + 0.5] };
}

/** One of the listed values (enumerations). */
export function oneOf<T extends string | number | boolean>(...values: readonly T[]): Domain {
  const outside = values.every((v) => typeof v === 'string') ? ['not-a-choice'] : values.every((v) => typeof v === 'number') ? [Math.min(...(values as readonly number[])) - 0.5] : [];
  return { range: `one of ${values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')}`, contains: (v) => values.includes(v as T), outside };
}

/** Values in any of the domains, e.g. `anyOf(oneOf(-1), integer(1))`. */
export function anyOf(...domains: readonly Domain[]): Domain {
  const contains = (v: unknown) => domains.some((d) => d.contains(v));
  return { range: domains.map((d) => d.range).join(' or '), contains, outside: domains.flatMap((d) => d.outside).filter((v) => !contains(v)) };
}

/** A domain given by a predicate, for structured options (Shampoo's exponentOverride). */
export function custom(range: string, contains: (v: unknown) => boolean, outside: readonly unknown[] = []): Domain {
  return { range, contains, outside };
}

/** Learning rates, eps, tolerances, scales: > 0. */
export const positive = interval(0, Infinity, { lowOpen: true });
/** Weight decay, correction weights, damping: >= 0. */
export const nonNegative = interval(0, Infinity);
/** EMA coefficients (betas, momentum): [0, 1). */
export const unitInterval = interval(0, 1, { highOpen: true });
/** true or false. */
export const bool = oneOf(true, false);
/** Any integer, negative ones included (seeds of keyed random draws). */
export const anyInteger: Domain = { range: 'an integer', interval: true, contains: (v) => isNum(v) && Number.isInteger(v), outside: [0.5] };

/**
 * The message for `value` of option `key` of `method` when it lies outside its domain, else null:
 * "adamw: option 'lr' must be > 0, got -0.01".
 */
export function domainViolation(method: string, domains: Readonly<Record<string, Domain>> | undefined, key: string, value: unknown): string | null {
  const d = domains?.[key];
  if (!d || d.contains(value)) return null;
  return `${method}: option '${key}' must be ${d.range}, got ${JSON.stringify(value)}`;
}

/** Throws the first domainViolation among `values` (for building blocks used outside defineOptimizer, e.g. adamwTransform). */
export function checkDomains(method: string, domains: Readonly<Record<string, Domain>>, values: Readonly<Record<string, unknown>>): void {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    const bad = domainViolation(method, domains, k, v);
    if (bad) throw new Error(bad);
  }
}
