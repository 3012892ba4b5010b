/**
 * How abandoned-cart recovery behaves, from the `CART_RECOVERY` var in wrangler.toml: the stages
 * (delay after the cart's last activity, template, optional discount), quiet hours, the cooldown
 * between reminders to one address, the consent rule, and the attribution window. Every field has
 * a default, so a store sets only what it changes; a wrong value fails the run with its path.
 */
import { z } from "zod";
import { cartTemplateNames } from "../email/templates/cart-reminder";

const hour = 3_600_000;
const day = 24 * hour;

const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be a 24-hour time such as 21:00");

const stage = z
  .object({
    afterHours: z
      .number()
      .positive()
      .max(24 * 60),
    template: z.enum(cartTemplateNames),
    discount: z
      .object({
        percentOff: z.number().int().min(1).max(90),
        validDays: z.number().positive().max(365),
      })
      .strict()
      .optional(),
  })
  .strict();

const settingsSchema = z
  .object({
    stages: z
      .array(stage)
      .min(1)
      .max(5)
      .refine(
        (stages) =>
          stages.every((s, i) => i === 0 || s.afterHours > (stages[i - 1]?.afterHours ?? 0)),
        "each stage must come later than the one before it",
      )
      .default([
        { afterHours: 2, template: "cart-reminder-1" },
        { afterHours: 24, template: "cart-reminder-2" },
        {
          afterHours: 72,
          template: "cart-reminder-final",
          discount: { percentOff: 10, validDays: 7 },
        },
      ]),
    /** No second cart reminder to one address within this many hours, whatever the cart. */
    cooldownHours: z
      .number()
      .min(0)
      .max(24 * 30)
      .default(16),
    /** Carts idle longer than this are past saving: reminding them reads as spam. */
    giveUpAfterHours: z
      .number()
      .positive()
      .max(24 * 90)
      .default(168),
    /** An order this many days after a reminder counts as recovered by it. */
    attributionDays: z.number().positive().max(90).default(7),
    /** How long a recovery link in an e-mail keeps working. */
    linkValidDays: z.number().positive().max(90).default(14),
    /** Local time, in the customer's zone (the store's when unknown), when nothing is sent. */
    quietHours: z
      .object({ from: clockTime, until: clockTime })
      .strict()
      .refine((q) => q.from !== q.until, {
        error: "from and until must differ (set quietHours to null to have none)",
      })
      .nullable()
      .default({ from: "21:00", until: "08:00" }),
    /**
     * `unless-refused`: a reminder goes to anyone who has not opted out, refused consent or
     * bounced. `required`: only to an address whose customer consented or that subscribed.
     */
    consent: z.enum(["unless-refused", "required"]).default("unless-refused"),
  })
  .strict()
  .refine((s) => s.stages.every((st) => st.afterHours < s.giveUpAfterHours), {
    error: "every stage must come before giveUpAfterHours",
    path: ["giveUpAfterHours"],
  });

export type RecoverySettings = z.output<typeof settingsSchema>;
export type StageSettings = RecoverySettings["stages"][number];

/** A stage with its number (1-based) and its delay in ms. */
export interface RecoveryStage extends StageSettings {
  stage: number;
  afterMs: number;
}

export interface CartRecoveryRules {
  stages: RecoveryStage[];
  cooldownMs: number;
  giveUpAfterMs: number;
  attributionMs: number;
  linkValidMs: number;
  quietHours: { from: number; until: number } | null;
  consent: RecoverySettings["consent"];
}

/** Reads and checks `CART_RECOVERY`; throws an error naming the wrong field. */
export function cartRecoveryRules(env: Pick<Env, "CART_RECOVERY">): CartRecoveryRules {
  const raw: unknown = (env as { CART_RECOVERY?: unknown }).CART_RECOVERY ?? {};
  const parsed = settingsSchema.safeParse(typeof raw === "string" ? parseJson(raw) : raw);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${["CART_RECOVERY", ...issue.path].join(".")}: ${issue.message}`)
      .join("; ");
    throw new Error(`invalid cart recovery settings: ${problems}`);
  }
  const s = parsed.data;
  return {
    stages: s.stages.map((st, i) => ({
      ...st,
      stage: i + 1,
      afterMs: Math.round(st.afterHours * hour),
    })),
    cooldownMs: Math.round(s.cooldownHours * hour),
    giveUpAfterMs: Math.round(s.giveUpAfterHours * hour),
    attributionMs: Math.round(s.attributionDays * day),
    linkValidMs: Math.round(s.linkValidDays * day),
    quietHours: s.quietHours && {
      from: minutesOf(s.quietHours.from),
      until: minutesOf(s.quietHours.until),
    },
    consent: s.consent,
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function minutesOf(clock: string): number {
  const [hours, minutes] = clock.split(":").map(Number) as [number, number];
  return hours * 60 + minutes;
}
