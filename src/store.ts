/** The store's settings, read once per invocation from the Worker's vars and secrets. */
export interface Store {
  name: string;
  timeZone: string;
  currency: string;
  publicUrl: string;
  storefrontUrl: string;
  senderAddress: string;
  reportRecipients: string[];
}

/** A comma-separated list of addresses, trimmed, lower-cased and each listed once. */
export function addressList(commaSeparated: string): string[] {
  const addresses = commaSeparated.split(",").map((address) => address.trim().toLowerCase());
  return [...new Set(addresses.filter((address) => address.length > 0))];
}

export function storeFrom(env: Env): Store {
  return {
    name: env.STORE_NAME,
    timeZone: env.STORE_TIMEZONE,
    currency: env.STORE_CURRENCY,
    publicUrl: env.PUBLIC_URL.replace(/\/+$/, ""),
    storefrontUrl: env.STOREFRONT_URL.replace(/\/+$/, ""),
    senderAddress: env.SENDER_ADDRESS,
    reportRecipients: addressList(env.REPORT_RECIPIENTS),
  };
}
