/**
 * Categories for online-retail products, which have none in the source: our own derivation from
 * words of the product description. The rules are listed in data/README.md.
 */

/** One rule: a product whose description contains any of `words` belongs to `category`. */
export interface CategoryRule {
  category: string;
  words: readonly string[];
}

/**
 * Tried in order; the first rule with a matching word wins. Words match whole words of the
 * upper-cased description (`T-LIGHT` holds the word `LIGHT`; `EARRINGS` does not hold `RING`).
 * Seasonal and party words come first because a "CHRISTMAS CANDLE" is bought for the season.
 */
export const categoryRules: readonly CategoryRule[] = [
  {
    category: "seasonal",
    words: ["CHRISTMAS", "XMAS", "ADVENT", "SANTA", "REINDEER", "SNOWFLAKE", "EASTER"],
  },
  { category: "party", words: ["PARTY", "BIRTHDAY", "BUNTING", "BALLOON", "BALLOONS"] },
  {
    category: "jewellery",
    words: [
      "NECKLACE",
      "BRACELET",
      "BANGLE",
      "EARRINGS",
      "RING",
      "KEYRING",
      "BROOCH",
      "CHARM",
      "DIAMANTE",
      "BEADS",
      "HAIR",
      "HAIRSLIDE",
    ],
  },
  { category: "bags", words: ["BAG", "BAGS", "HANDBAG", "PURSE", "SHOPPER", "BACKPACK"] },
  {
    category: "lighting",
    words: ["CANDLE", "CANDLES", "LIGHT", "LIGHTS", "LANTERN", "LAMP", "NIGHTLIGHT"],
  },
  // Before kitchen: a "PLAYHOUSE KITCHEN" is a toy. DOLLY GIRL and SPACEBOY are print designs.
  { category: "toys", words: ["TOY", "TOYS", "JIGSAW", "GAME", "GAMES", "DOLL", "PLAYHOUSE"] },
  {
    category: "kitchen",
    words: [
      "MUG",
      "MUGS",
      "CUP",
      "CUPS",
      "PLATE",
      "PLATES",
      "BOWL",
      "TEAPOT",
      "TEA",
      "COFFEE",
      "CUTLERY",
      "SPOON",
      "TEASPOONS",
      "PAN",
      "KITCHEN",
      "BAKING",
      "CAKE",
      "LUNCH",
      "JAR",
      "JAM",
      "APRON",
      "NAPKIN",
      "NAPKINS",
      "TRAY",
    ],
  },
  {
    category: "stationery",
    words: [
      "CARD",
      "CARDS",
      "PAPER",
      "WRAP",
      "NOTEBOOK",
      "PEN",
      "PENCIL",
      "PENCILS",
      "STICKERS",
      "TAPE",
      "ENVELOPE",
      "ENVELOPES",
      "CALENDAR",
    ],
  },
  { category: "garden", words: ["GARDEN", "PLANTER", "WATERING", "FLOWERPOT", "BIRDHOUSE"] },
  {
    category: "home-decor",
    words: [
      "SIGN",
      "MIRROR",
      "FRAME",
      "CLOCK",
      "CUSHION",
      "DOORMAT",
      "HOOK",
      "HOOKS",
      "GARLAND",
      "DECORATION",
      "WREATH",
      "HANGER",
      "KNOB",
      "DOORSTOP",
      "WALL",
    ],
  },
  {
    category: "storage",
    words: ["BOX", "BOXES", "TIN", "TINS", "BASKET", "STORAGE", "DRAWER", "CABINET", "CASE"],
  },
  { category: "bath", words: ["BATHROOM", "SOAP", "TOWEL", "TISSUES", "WASHBAG", "SPONGE"] },
];

/** What a product matches when no rule does: the shop sells gifts. */
export const fallbackCategory = "gifts";

/** The category of a product described by `description`, by the first matching rule. */
export function categorize(description: string): string {
  const words = new Set(description.toUpperCase().split(/[^A-Z]+/));
  const rule = categoryRules.find((candidate) => candidate.words.some((word) => words.has(word)));
  return rule?.category ?? fallbackCategory;
}
