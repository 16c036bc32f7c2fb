// Inline checks mirroring services/image-registry images/schemas.py (the API stays the judge).
// Each returns null when fine, else a message key of the extra dictionary.

export type ImageErrorKey =
  | "v.name.length"
  | "v.name.chars"
  | "v.name.start"
  | "v.name.end"
  | "v.name.dots"
  | "v.tag.latest"
  | "v.tag.chars"
  | "v.source.required"
  | "v.source.scheme"
  | "v.source.spaces"
  | "v.dockerfile.required"
  | "v.dockerfile.size"
  | "v.description.length";

export function checkImageName(value: string): ImageErrorKey | null {
  if (value.length < 3 || value.length > 128) return "v.name.length";
  if (!/^[a-z0-9.-]*$/.test(value)) return "v.name.chars";
  if (!/^[a-z]/.test(value)) return "v.name.start";
  if (!/[a-z0-9]$/.test(value)) return "v.name.end";
  if (value.includes("..") || value.includes(".-") || value.includes("-.")) return "v.name.dots";
  return null;
}

/** An empty tag is fine: the platform picks a timestamp. */
export function checkImageTag(value: string): ImageErrorKey | null {
  if (!value) return null;
  if (value.toLowerCase() === "latest") return "v.tag.latest";
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(value)) return "v.tag.chars";
  return null;
}

export function checkSourceUrl(value: string): ImageErrorKey | null {
  if (!value) return "v.source.required";
  if (value.includes("://")) return "v.source.scheme";
  if (/\s/.test(value)) return "v.source.spaces";
  return null;
}

export function checkDockerfile(value: string): ImageErrorKey | null {
  if (!value.trim()) return "v.dockerfile.required";
  if (new TextEncoder().encode(value).length > 64 * 1024) return "v.dockerfile.size";
  return null;
}

export function checkDescription(value: string): ImageErrorKey | null {
  return value.length > 256 ? "v.description.length" : null;
}
