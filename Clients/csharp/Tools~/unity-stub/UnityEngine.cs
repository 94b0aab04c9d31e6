// The few UnityEngine types the samples use, with Unity's signatures, so test.sh can check that
// the samples compile without Unity. Not shipped, not a runtime.
namespace UnityEngine
{
    public struct Vector3
    {
        public float x, y, z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
        public static Vector3 Lerp(Vector3 a, Vector3 b, float t) { return a; }
    }
    public struct Quaternion
    {
        public static Quaternion identity { get { return new Quaternion(); } }
        public static Quaternion Euler(float x, float y, float z) { return new Quaternion(); }
    }
    public class Object
    {
        public static T Instantiate<T>(T original, Vector3 position, Quaternion rotation) where T : Object { return original; }
        public static void Destroy(Object obj) { }
    }
    public class Component : Object
    {
        public Transform transform { get { return null; } }
        public GameObject gameObject { get { return null; } }
    }
    public class Transform : Component
    {
        public Vector3 position { get; set; }
        public Quaternion rotation { get; set; }
        public Vector3 eulerAngles { get; set; }
    }
    public class GameObject : Object
    {
        public Transform transform { get { return null; } }
    }
    public class Behaviour : Component { }
    public class MonoBehaviour : Behaviour { }
    public static class Time
    {
        public static float time { get { return 0; } }
        public static float deltaTime { get { return 0; } }
    }
    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogError(object message) { }
    }
    [System.AttributeUsage(System.AttributeTargets.Field)]
    public sealed class SerializeFieldAttribute : System.Attribute { }
}
