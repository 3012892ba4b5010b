/** What a newsletter holds, and how one subscriber's copy is chosen from it. */

export interface WeeklyContent {
  categories: {
    category: string;
    newProducts: { productId: string; name: string; priceCents: number; currency: string }[];
    bestSellers: { productId: string; name: string; unitsSold: number }[];
  }[];
}

/** One Queue message: a batch of subscribers of one campaign. */
export interface NewsletterBatch {
  kind: "newsletter-batch";
  campaignId: string;
  runId: number;
  batch: number;
  emails: string[];
}

const maxSections = 3;

/**
 * The sections a subscriber gets: their own categories first, in their order; when none of them
 * had anything this week, the busiest categories of the store instead.
 */
export function sectionsFor(content: WeeklyContent, interests: readonly string[]) {
  const wanted = new Set(interests.map((interest) => interest.toLowerCase()));
  const own = content.categories.filter((section) => wanted.has(section.category.toLowerCase()));
  if (own.length > 0) return { personalised: true, sections: own.slice(0, maxSections) };
  const busiest = [...content.categories].sort(
    (a, b) => sold(b) - sold(a) || a.category.localeCompare(b.category),
  );
  return { personalised: false, sections: busiest.slice(0, maxSections) };
}

function sold(section: WeeklyContent["categories"][number]): number {
  return section.bestSellers.reduce((sum, product) => sum + product.unitsSold, 0);
}
