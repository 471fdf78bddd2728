export async function seedHistory() {}
